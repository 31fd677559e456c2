"""Scheduled retraining of the recommenders (``task = "recommend-train"``).

The same pipeline as ``finmatch recommend train`` (time split, rolling folds, bootstrap, gate): a scheduled
recommender is promoted only when it beats popularity on the validation window beyond the interval. Each run
writes ``<reports_dir>/<job>/<date>-<model id>.md`` (and ``latest.md``) with the leaderboard, the gate, the
changes since the previous saved recommender (:func:`finmatch_agents.diff.compare_evaluations`) and the trend
across the saved recommenders; with ``format = ["md", "html"]`` the same page as HTML beside it (and
``latest.html``), in the analysis reports' style. ``keep`` applies to those reports (an HTML page goes with
its markdown) and to the saved recommenders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finmatch_agents.files import atomic_write_text
from finmatch_agents.recommend import registry
from finmatch_agents.recommend.report import Section, markdown, sections, title
from finmatch_agents.recommend.train import train_and_save
from finmatch_agents.report.html import CSS, esc
from finmatch_agents.schedule.retention import apply_retention

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.schedule.jobs import Job


def html_page(page_title: str, parts: list[Section]) -> str:
    """The report's sections as one standalone HTML page (the analysis reports' stylesheet; every text escaped)."""
    body = [f"<h1>{esc(page_title)}</h1>"]
    for sec in parts:
        body.append("<section>" + (f"<h2>{esc(sec.title)}</h2>" if sec.title else ""))
        body += [f"<p>{esc(p)}</p>" for p in sec.paragraphs]
        for t in sec.tables:
            head = "".join(f'<th class="num">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>"
                           for h, n in zip(t.headings, t.numeric, strict=True))
            rows = "".join("<tr>" + "".join(f'<td class="num">{esc(c)}</td>' if n else f"<td>{esc(c)}</td>"
                                            for c, n in zip(row, t.numeric, strict=True)) + "</tr>" for row in t.rows)
            body.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>')
        body.append("</section>")
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(page_title)}</title><style>{CSS}</style></head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body></html>\n")


def retrain_recommenders(settings: Settings, job: Job, *, log: Callable[[str], None]) -> tuple[str, Path, list[Path]]:
    result = train_and_save(settings, promote=True, keep=job.keep, source=f"recommend-train job {job.name}")
    info = registry.get(settings.state_dir, result["model_id"])
    state = "promoted" if result["promoted"] else "not promoted"
    log(f"saved {info.id} ({info.meta['label']}, {state}): {result['evaluation']['gate']['reason']}")
    if result["removed"]:
        log(f"retention (keep {job.keep}) deleted recommender(s) {', '.join(result['removed'])}")
    parts = sections(info, registry.list_models(settings.state_dir), promoted=result["promoted"])
    folder = settings.reports_dir / job.name
    day = str(info.meta["created_at"])[:10]
    path = folder / f"{day}-{info.id.removeprefix('rec-')}.md"
    written = [path, folder / "latest.md"]
    text = markdown(title(info), parts)
    for target in written:
        atomic_write_text(target, text)
    if "html" in job.formats:
        page = html_page(title(info), parts)
        for target in list(written):
            atomic_write_text(target.with_suffix(".html"), page)
            written.append(target.with_suffix(".html"))
    deleted = apply_retention(folder, job.keep, protect=written)
    if deleted:
        log(f"retention (keep {job.keep}) deleted {len(deleted)} old report(s): " + ", ".join(p.name for p in deleted))
    return info.id, path, deleted
