"""Small builders of model objects for unit tests (no files read)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from comms.model import (
    Address,
    Coordinator,
    Event,
    Instance,
    Issue,
    NewsItem,
    Project,
    Repeat,
    Site,
)

PARIS = ZoneInfo("Europe/Paris")


def make_site(root: Path = Path("/tmp/territoire"), **over) -> Site:
    values = dict(
        root=root,
        territory="Val-de-Lisière",
        newsletter_title="La Lettre santé de Val-de-Lisière",
        sender=Address("Coordination santé Val-de-Lisière", "lettre@sante.example.org"),
        reply_to="coordination@sante.example.org",
        coordinators=(
            Coordinator("Claire Martin", "Coordinatrice ASV et CLS", "claire.martin@sante.example.org",
                        "01 99 00 10 01"),
            Coordinator("Karim Benali", "Coordinateur du CLSM", "karim.benali@sante.example.org",
                        "01 99 00 10 02"),
        ),
        brand_color="#1f5f7a",
        logo=None,
        web_base_url="https://sante.example.org/lettre/",
        survey_url="https://sante.example.org/questionnaire",
        timezone=PARIS,
        unsubscribe_mailto="desinscription@sante.example.org",
        unsubscribe_url="https://sante.example.org/desinscription",
        issue_dates=((2, 15), (6, 15), (10, 15)),
        partners_path=root / "content" / "partners.csv",
        domain="sante.example.org",
    )
    values.update(over)
    return Site(**values)


def make_issue(issue_id: str = "2027-1", publish_on: date = date(2027, 2, 15), **over) -> Issue:
    values = dict(
        id=issue_id,
        number=int(issue_id.split("-")[1]),
        publish_on=publish_on,
        title="",
        period="Hiver 2027",
        editorial_by="Claire Martin",
        editorial_md="Chères et chers partenaires,\n\nBonne lecture\u00a0!\n",
        source=Path(f"content/issues/{issue_id}.md"),
    )
    values.update(over)
    return Issue(**values)


def make_news(news_id: str = "2027-01-10-item", on: date = date(2027, 1, 10), **over) -> NewsItem:
    values = dict(
        id=news_id,
        title=f"Actualité {news_id}",
        date=on,
        dispositifs=("CLSM",),
        section="news",
        issue=None,
        summary="",
        image=None,
        image_alt="",
        link="",
        author="",
        draft=False,
        body_md="Un paragraphe.\n",
        source=Path(f"content/news/{news_id}.md"),
    )
    values.update(over)
    return NewsItem(**values)


def make_instance(instance_id: str = "copil", **over) -> Instance:
    values = dict(
        id=instance_id,
        name="Comité de pilotage",
        dispositifs=("ASV", "CLS", "CLSM"),
        audience=(instance_id,),
        organizer="claire.martin@sante.example.org",
        reminder=timedelta(days=1),
        sequence={},
        source=Path("calendars/instances.yaml"),
    )
    values.update(over)
    return Instance(**values)


def make_event(event_id: str = "2027-03-copil",
               start: datetime | date = datetime(2027, 3, 18, 14, 0, tzinfo=PARIS),
               end: datetime | date | None = None, **over) -> Event:
    all_day = not isinstance(start, datetime)
    if end is None:
        end = start if all_day else start + timedelta(hours=2)
    values = dict(
        id=event_id,
        instance="copil",
        title="Comité de pilotage",
        start=start,
        end=end,
        all_day=all_day,
        location="Salle du conseil, mairie de Lisière",
        online_url="",
        registration_url="",
        evaluation_url="",
        status="confirmed",
        body_md="1. Bilan de l’année\n2. Programme\n",
        repeat=None,
        attendees=(),
        audience=None,
        source=Path(f"calendars/events/{event_id}.md"),
    )
    values.update(over)
    return Event(**values)


def make_repeat(rrule: dict, exceptions: tuple[date, ...] = (), text: str = "") -> Repeat:
    return Repeat(rrule=rrule, exceptions=exceptions, text=text)


def make_project(site: Site | None = None, issues=(), news=(), instances=None, events=()) -> Project:
    instances = instances if instances is not None else {"copil": make_instance()}
    return Project(
        site=site or make_site(),
        issues=tuple(sorted(issues, key=lambda i: i.publish_on)),
        news=tuple(sorted(news, key=lambda n: (n.date, n.id))),
        instances=instances,
        events=tuple(events),
    )
