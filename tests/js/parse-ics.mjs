// Reads an .ics file with Mozilla's ical.js (the engine of Thunderbird's calendar) and prints
// what it understood as JSON, so that Python tests can compare it with what we meant.
//
// usage: node parse-ics.mjs FILE [OCCURRENCES]
//
// Times are converted to UTC by ical.js itself, with the VTIMEZONEs found in the file
// registered first, exactly as a client receiving the file would do.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const [path, limitArg] = process.argv.slice(2);
if (!path) {
  console.error("usage: node parse-ics.mjs FILE [OCCURRENCES]");
  process.exit(2);
}
const limit = Number(limitArg ?? 12);

function show(time) {
  if (!time) return null;
  if (time.isDate) return time.toString(); // YYYY-MM-DD, no zone
  return time.toJSDate().toISOString(); // the UTC instant ical.js computed
}

const root = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
const calendars = root.name === "vcalendar" ? [root] : root.getAllSubcomponents("vcalendar");
const out = { method: null, name: null, timezones: [], events: [] };

for (const cal of calendars) {
  out.method ??= cal.getFirstPropertyValue("method");
  out.name ??= cal.getFirstPropertyValue("x-wr-calname");
  for (const vtz of cal.getAllSubcomponents("vtimezone")) {
    const tz = new ICAL.Timezone(vtz);
    ICAL.TimezoneService.register(tz);
    out.timezones.push(tz.tzid);
  }
}

for (const cal of calendars) {
  for (const comp of cal.getAllSubcomponents("vevent")) {
    const event = new ICAL.Event(comp);
    const start = event.startDate;
    const item = {
      uid: event.uid,
      summary: event.summary,
      status: comp.getFirstPropertyValue("status"),
      sequence: event.sequence,
      start: show(start),
      end: show(event.endDate),
      tzid: start && !start.isDate ? start.zone.tzid : null,
      isDate: Boolean(start && start.isDate),
      recurring: event.isRecurring(),
      attendees: comp.getAllProperties("attendee").length,
      organizer: comp.hasProperty("organizer"),
      alarms: comp.getAllSubcomponents("valarm").length,
      dtstamp: show(comp.getFirstPropertyValue("dtstamp")),
      lastModified: show(comp.getFirstPropertyValue("last-modified")),
      recurrenceId: show(event.recurrenceId),
      exdates: comp.getAllProperties("exdate").flatMap((p) => p.getValues()).map(show),
      occurrences: [],
    };
    if (item.recurring) {
      const it = event.iterator();
      for (let next = it.next(); next && item.occurrences.length < limit; next = it.next()) {
        item.occurrences.push(show(next));
      }
    }
    out.events.push(item);
  }
}

process.stdout.write(JSON.stringify(out, null, 2) + "\n");
