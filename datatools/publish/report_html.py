"""OUT/report.html: one self-contained page (inline CSS and SVG, no scripts, no network) that
shows what a build did: the funnel, why rows were dropped, score distributions, length bias,
KTO label balance and near-duplicate clusters.
"""
from __future__ import annotations

import json
from html import escape
from pathlib import Path

from datatools.publish import facts
from datatools.publish import report_data as data
from datatools.publish.errors import NotABuildError
from datatools.publish.svg import PALETTE, bar_chart, fmt, histogram, scatter

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.sub{color:#666;margin-top:0} .none{color:#777;font-style:italic}
.grid{display:flex;flex-wrap:wrap;gap:16px} .card{border:1px solid #e3e3e3;border-radius:6px;padding:8px 12px}
.card h3{margin:4px 0 6px;font-size:14px} table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left} th{background:#f5f5f5}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.stats{display:flex;flex-wrap:wrap;gap:28px;margin:12px 0} .stats div span{display:block;color:#666;font-size:12px}
.stats div span.stat{font-size:20px;font-weight:600;color:#222}
"""


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{fmt(v)}</td>' if isinstance(v, (int, float))
                         and not isinstance(v, bool) else f"<td>{escape(str(v))}</td>"
                         for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(title: str, anchor: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def _overview(report: dict) -> str:
    stats = [("rows read", report.get("rows_read", 0)), ("rows kept", report.get("final_rows", 0)),
             ("prompts kept", report.get("final_records", 0)),
             ("ledger rows", (report.get("ledger") or {}).get("total", 0)),
             ("seconds", report.get("seconds", 0))]
    stats += [(kind, meta.get("rows", 0)) for kind, meta in (report.get("outputs") or {}).items()]
    cells = "".join(f'<div><span>{escape(k)}</span><span class="stat">{fmt(v)}</span></div>'
                    for k, v in stats)
    sources = _table(["source", "revision", "format", "records", "rows", "rejected"],
                     [[s.get("hub") or s.get("source"), s["revision"], s.get("format", ""),
                       s.get("records", 0), s.get("rows", 0), s.get("rejected", 0)]
                      for s in facts.sources(report)])
    models = facts.models(report)
    model_table = _table(["step", "role", "model", "backend", "revision"],
                         [[m["step"], m["role"], m["model"], m["backend"], m["revision"]]
                          for m in models]) if models else '<p class="none">no models run</p>'
    judges = facts.judges(report)
    judge_table = _table(["step", "judge", "model", "column", "sets score"],
                         [[j["step"], j["kind"], j["model"], j["column"],
                           "yes" if j["sets_score"] else "no"] for j in judges]) if judges else ""
    notes = "".join(f'<p class="warn"><b>{escape(str(s.get("source")))}:</b> {escape(n)}</p>'
                    for s in report.get("sources") or [] for n in s.get("notes") or [])
    return (f'<div class="stats">{cells}</div><h3>Sources</h3>{sources}{notes}'
            f"<h3>Models</h3>{model_table}"
            + (f"<h3>Judges</h3>{judge_table}" if judges else ""))


def _funnel(report: dict) -> str:
    steps = report.get("steps") or []
    rows = [[s.get("location") or s["name"], s.get("records_in", 0), s.get("records_out", 0),
             s.get("rows_in", 0), s.get("kept", 0), s.get("rejected", 0),
             "yes" if s.get("cached") else "", s.get("seconds", 0)] for s in steps]
    drops = data.drops(report)
    drop_chart = bar_chart(drops, color=PALETTE[1], title="drops per reason") if drops \
        else '<p class="none">nothing was dropped</p>'
    return (f'<div class="grid"><div class="card"><h3>Rows per stage</h3>'
            f'{bar_chart(data.funnel(report), title="records per stage")}</div>'
            f'<div class="card"><h3>Drops per reason (ledger rows)</h3>{drop_chart}</div></div>'
            '<p class="sub">A record is one prompt with its candidate answers; a row is one '
            "candidate answer. The chart counts records at every stage; the table has both.</p>"
            + _table(["step", "records in", "records out", "rows in", "rows kept",
                      "rows rejected", "cached", "seconds"], rows))


def _scores(candidates) -> str:
    columns = data.score_columns(candidates)
    if not columns:
        return '<p class="none">no scores in the final candidates</p>'
    cards = []
    for name, values in columns.items():
        mean = sum(values) / len(values)
        cards.append(f'<div class="card"><h3>{escape(name)}</h3>'
                     f"{histogram({name: values}, x_label=name)}"
                     f'<div class="sub">n={fmt(len(values))}, mean={fmt(mean)}, '
                     f"min={fmt(min(values))}, max={fmt(max(values))}</div></div>")
    return ('<p class="sub">Per candidate row of the final frame: the overall <code>score</code>, '
            "each judge's column and each rubric aspect.</p>"
            f'<div class="grid">{"".join(cards)}</div>')


def _length_bias(pairs) -> str:
    lb = data.length_bias(pairs)
    if lb is None:
        return '<p class="none">no pairwise dataset was built (or it is empty)</p>'
    r = lb["pearson"]
    r_text = fmt(r) if r is not None else data.pearson_missing_reason(lb)
    longer = f"{lb['chosen_longer']:.0%}" if lb["chosen_longer"] is not None else "n/a"
    warn = ""
    if (r is not None and r > 0.3) or (lb["chosen_longer"] or 0) > 0.7:
        warn = ('<p><b>Possible length bias:</b> preferred answers are systematically longer; '
                "DPO may learn verbosity. Consider length-normalised DPO or a length filter.</p>")
    return (f'<div class="stats"><div><span>pairs</span><span class="stat">{fmt(lb["pairs"])}'
            f'</span></div><div><span>Pearson r (score margin vs length difference)</span>'
            f'<span class="stat" id="length-pearson">{escape(r_text)}</span></div>'
            f'<div><span>chosen longer than rejected</span><span class="stat">{longer}</span>'
            f'</div><div><span>mean length chosen / rejected (chars)</span><span class="stat">'
            f'{fmt(lb["mean_chosen"])} / {fmt(lb["mean_rejected"])}</span></div></div>{warn}'
            + (f'<p class="sub">Charts: the first {fmt(lb["charted"])} pairs; the numbers '
               "above: every pair.</p>" if lb["charted"] < lb["pairs"] else "")
            + '<div class="grid"><div class="card"><h3>Length (characters)</h3>'
            f'{histogram({"chosen": lb["chosen"], "rejected": lb["rejected"]}, "characters")}'
            '</div><div class="card"><h3>Score margin vs length difference</h3>'
            f'{scatter(lb["diff"], lb["margin"], "len(chosen) − len(rejected)", "score margin")}'
            "</div></div>")


def _balance(folder: Path, report: dict) -> str:
    b = data.label_balance(folder, report)
    if b is None:
        return '<p class="none">no unary (KTO) dataset was built</p>'
    chart = bar_chart([("desirable", b["desirable"]), ("undesirable", b["undesirable"])],
                      color=PALETTE[2], label_width=110, width=480, title="KTO labels")
    ratio = b["weighted_ratio"]
    return (chart + _table(["desirable", "undesirable", "desirable_weight",
                            "undesirable_weight", "λ_D·n_D / (λ_U·n_U)"],
                           [[b["desirable"], b["undesirable"], b["desirable_weight"] or "",
                             b["undesirable_weight"] or "",
                             ratio if ratio is not None else "n/a"]])
            + '<p class="sub">KTO paper Eq. 8: the weighted ratio should lie in [1, 4/3].</p>')


def _near_dups(rejects) -> str:
    clusters = data.near_dup_clusters(rejects)
    if not clusters:
        return '<p class="none">no near-duplicates were dropped</p>'
    biggest = sorted(clusters.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return (f'<p>{fmt(len(clusters))} clusters; {fmt(sum(clusters.values()) - len(clusters))} '
            "members dropped, one kept per cluster.</p>"
            f'<div class="grid"><div class="card"><h3>Clusters by size</h3>'
            f'{bar_chart(data.cluster_size_counts(clusters), color=PALETTE[4], label_width=90, width=420, title="cluster sizes")}'
            f'</div><div class="card"><h3>Largest clusters</h3>'
            f'{_table(["kept member (cluster id)", "size"], [list(kv) for kv in biggest])}'
            "</div></div>")


def _labels(report: dict) -> str:
    """aggregate_labels' agreement (Fleiss' κ, Krippendorff's α), judges against references,
    and the steps' warnings (e.g. conflicting labels found by validate)."""
    out = "".join(f"<p><b>warning</b> {escape(w)}: {escape(m)}</p>"
                  for w, m in facts.warnings(report))
    for s in facts.label_agreement(report):
        if s["name"] == "aggregate_labels":
            out += (f"<h3>{escape(s['step'])}: {escape(str(s.get('method')))} over "
                    f"{escape(str(s.get('value')))}s</h3>")
            out += _table(["items", "with several votes", "dropped", "share dropped", "Fleiss' κ",
                           f"Krippendorff's α ({s.get('alpha_metric')})"],
                          [[s.get("items"), s.get("items_with_several_votes"),
                            s.get("items_dropped"), _na(s.get("share_dropped")),
                            _na(s.get("fleiss_kappa")),
                            _na(s.get("krippendorff_alpha"))]])
            raters = list((s.get("by_annotator") or {}).items())[:20]
            if raters:
                out += _table(["annotator", "votes", "agrees with kept", "estimated accuracy"],
                              [[k, v.get("votes"), _na(v.get("agrees_with_kept")),
                                _na(v.get("dawid_skene_accuracy"))] for k, v in raters])
            sources = s.get("by_source") or {}
            if len(sources) > 1:
                out += _table(["source", "votes", "items", "share dropped", "Fleiss' κ", "α"],
                              [[k, v.get("votes"), v.get("items"), _na(v.get("share_dropped")),
                                _na(v.get("fleiss_kappa")), _na(v.get("krippendorff_alpha"))]
                               for k, v in sources.items()])
        else:
            out += (f"<h3>{escape(s['step'])}: judge <code>{escape(str(s.get('judge')))}</code>"
                    f" vs <code>{escape(str(s.get('reference')))}</code></h3>")
            out += _table(["level", "compared", "agreement", "Cohen's κ"],
                          [[s.get("level"), s.get("compared"), _na(s.get("agreement")),
                            _na(s.get("cohen_kappa"))]])
    return out


def _mixture(report: dict) -> str:
    """Requested against achieved rows and shares per dataset and source (or tag)."""
    return _table(["dataset", "group", "available", "requested", "achieved", "requested share",
                   "achieved share", "downsampled", "repeated"],
                  [[r["kind"], r["group"], r["available"], r["requested"], r["achieved"],
                    _na(r["requested_share"]), _na(r["achieved_share"]), r["downsampled"],
                    r["repeated"]] for r in facts.mixture(report)])


def _na(x):
    return "n/a" if x is None else x


def _drop_samples(folder: Path) -> str:
    samples = data.sample_drops(folder)
    if not samples:
        return '<p class="none">nothing was dropped</p>'
    rows = [[reason, r["source"] or "", r["detail"] or "", r["record"] or ""]
            for reason, items in samples.items() for r in items]
    return ('<p class="sub">Up to three ledger rows per reason (the record cut to 240 '
            "characters); all of them are in <code>rejects/rejects.parquet</code>.</p>"
            + _table(["reason", "source", "detail", "record"], rows))


def report_html_text(folder: Path, report: dict | None = None, pairs=None) -> str:
    """The page for the build in `folder` (OUT, or a build's staging folder). `pairs`: the
    pairwise dataset when the caller still holds it (a build): its lengths are then measured
    in memory instead of decoding the written file again (+0.35 GB at a million pairs)."""
    folder = Path(folder)
    if report is None:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    candidates = data.read_scores(folder)
    sections = [
        _section("Overview", "overview", _overview(report)),
        _section("Funnel", "funnel", _funnel(report)),
        _section("Dropped rows: samples per reason", "drop-samples", _drop_samples(folder)),
        _section("Score distributions", "scores", _scores(candidates)),
        _section("Length bias (pairwise)", "length",
                 _length_bias(pairs if pairs is not None
                              else data.scan(folder, "pairwise", "train.parquet"))),
        _section("KTO label balance (unary)", "balance", _balance(folder, report)),
        _section("Near-duplicate clusters", "near-dups",
                 _near_dups(data.read_near_dups(folder))),
    ]
    if facts.mixture(report):
        sections.insert(2, _section("Mixture", "mix", _mixture(report)))
    if facts.label_agreement(report) or facts.warnings(report):
        sections.insert(2, _section("Label agreement", "labels", _labels(report)))
    name = escape(str(report.get("name", "build")))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{name} — datatools report</title><style>{CSS}</style></head><body>"
            f"<h1>{name}</h1><p class=\"sub\">datatools {escape(str(report.get('version', '')))}"
            f" · recipe {escape(str(report.get('recipe') or '(dict)'))}</p>"
            + "".join(sections) + "</body></html>\n")


def render_report(out_dir: Path) -> Path:
    """Write OUT/report.html from a finished build folder; returns its path."""
    out_dir = Path(out_dir)
    if not (out_dir / "report.json").is_file():
        raise NotABuildError(out_dir)
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(report_html_text(out_dir), encoding="utf-8")
    tmp.replace(path)  # never leave a half-written page where a browser would open it
    return path

