// Opens a page in the system's headless Chromium at a phone width, runs axe-core in it and
// prints {"violations": [...]} as JSON; saves a screenshot.
// Usage: node axe-check.mjs URL SCREENSHOT.png [WIDTH]
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const require = createRequire(import.meta.url);
const [url, screenshot, width = "375"] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "comms-chromium-"));
const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         `--user-data-dir=${profile}`],
});
try {
  const page = await browser.newPage();
  await page.setBypassCSP(true);  // the page forbids scripts; axe is injected for the check
  await page.setViewport({ width: Number(width), height: 800, deviceScaleFactor: 1 });
  const response = await page.goto(url, { waitUntil: "load" });
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const result = await page.evaluate(async () => {
    const r = await globalThis.axe.run(document, { resultTypes: ["violations"] });
    return {
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                             nodes: v.nodes.map((n) => n.html) })),
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    };
  });
  await page.screenshot({ path: screenshot, fullPage: true });
  result.status = response.status();
  process.stdout.write(JSON.stringify(result) + "\n");
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
