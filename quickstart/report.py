"""The quickstart report: PNG grids per held-out scene, a metrics table, Markdown and one HTML page."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from PIL import Image

from fourm_registry.generation.pictures import draw_value, make_grid

from .evaluate import FROM_RGB, _as_pixels


def grids(samples: list[dict], preds: dict[str, list[Any]], registry: Any, out: Path,
          count: int, height: int = 160, choice: dict[str, str] | None = None, k: int = 0) -> list[Path]:
    """Per scene: ground truth, predictions from RGB, and RGB from the caption (three rows).

    The last row shows the scored caption → semseg → rgb chain (greedy, or a mean of ``k``
    samples per ``choice``) and, when sampled chains exist, one sampled chain (T = 1): a greedy
    or mean image shows the expected scene, a sample shows whether the model draws objects."""
    protocol = (choice or {}).get("caption->rgb", "greedy")
    scored = ("greedy" if protocol.endswith("greedy") else "expected codes" if protocol == "code-mean"
              else f"mean of {k}")
    if protocol.startswith("direct-") or protocol == "code-mean":
        scored += ", no semseg step"
    paths = []
    for i, s in enumerate(samples[:count]):
        size = (s["rgb"].shape[1], s["rgb"].shape[0])
        rgb_pic = draw_value(registry.get_modality("rgb"), s["rgb"])

        def pic(name: str, value: Any) -> Image.Image:
            if name == "det":
                value = _as_pixels(value, size)
            return draw_value(registry.get_modality(name), value, background=rgb_pic)

        truth = [("input rgb", rgb_pic)] + [(f"true {m}", pic(m, s[m])) for m in FROM_RGB]
        made = [("", Image.new("RGB", rgb_pic.size, "white"))] + \
            [(f"predicted {m}", pic(m, preds[m][i])) for m in FROM_RGB]
        chain = [("caption (input)", pic("caption", s["caption"]))]
        if protocol == "greedy" and "caption->semseg" in preds:
            chain.append(("semseg from caption (greedy)", pic("semseg", preds["caption->semseg"][i])))
        chain.append((f"rgb from caption ({scored})", pic("rgb", preds["caption->rgb"][i])))
        if "caption->rgb/sample" in preds:
            chain += [("a random-order sample: semseg", pic("semseg", preds["caption->semseg/sample"][i])),
                      ("its rgb", pic("rgb", preds["caption->rgb/sample"][i]))]
        rows = [make_grid(truth, height), make_grid(made, height), make_grid(chain, height)]
        sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
        y = 0
        for r in rows:
            sheet.paste(r, (0, y))
            y += r.height
        path = out / f"scene-{i}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def _protocol(settings: dict[str, Any]) -> str:
    k, dev = settings.get("decode_samples", 0), settings.get("dev_samples", 0)
    if not (k and dev):
        return "Every prediction is greedy (temperature 0)."
    return (f"Each dense target is decoded greedily, as the point estimate of {k} samples (pixel "
            "mean; per-pixel majority for semseg), or in one pass from each cell's expected code vector "
            "(`code-mean`), whichever beats the baseline on more of its rows "
            f"on {dev} other held-out scenes (the dev scenes, never scored, dealt so that both sets hold "
            "the same mix of floor tones); caption -> rgb is also decoded in one step, without the semseg "
            "chain (`direct-`); boxes and captions are greedy.")


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def write(out: Path, rows: list[dict], pictures: list[Path], facts: dict[str, Any]) -> tuple[Path, Path]:
    """``report.md`` (pictures linked) and ``report.html`` (pictures embedded), plus metrics.json."""
    (out / "metrics.json").write_text(json.dumps({"rows": rows, "facts": facts}, indent=2))
    wins = sum(r["model_better"] for r in rows)
    lines = [
        "# fourm quickstart report", "",
        f"A {facts['params_m']:.1f}M-parameter 4M trained for {facts['train_steps']} steps on "
        f"{facts['n_train']} synthetic scenes ({facts['size']} px), evaluated on {facts['n_eval']} "
        "held-out scenes against their exact ground truth. "
        + _protocol(facts["settings"])
        + " Each row compares the model with a trivial baseline fitted on the training scenes.", "",
        f"**The model beats the baseline on {wins} of {len(rows)} rows.** "
        f"Seed {facts['settings']['seed']}, {facts['settings']['threads']} torch threads.", "",
        "| target | metric | model | baseline | baseline is | model better | tokenizer round trip | decoding |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        arrow = "↑" if r["higher_is_better"] else "↓"
        ceiling = "—" if r.get("tokenizer") is None else _fmt(r["tokenizer"])
        lines.append(f"| {r['target']} | {r['metric']} {arrow} | {_fmt(r['model'])} | "
                     f"{_fmt(r['baseline'])} | {r['baseline_name']} | {'yes' if r['model_better'] else 'no'} "
                     f"| {ceiling} | {r.get('decoding', 'greedy')} |")
    lines += ["", "The tokenizer round trip decodes each held-out scene's own ground-truth tokens: "
              "the best a model can reach through these tokenizers.", "",
              "Depth is predicted relative (the tokenizer standardises each depth map, as 4M "
              "does); model and baseline are both aligned to metric depth by a per-image "
              "least-squares scale and shift before scoring. `abs_rel_objects` scores only the "
              "objects' pixels (spheres, cubes and cylinders in the true semseg): the floor fills "
              "most of every picture, and the mean depth map already fits it closely.", ""]
    lines += _decoding_table(rows)
    lines += _dev_table(facts.get("dev") or {})
    lines += ["## Held-out scenes", "",
              "Rows: ground truth, predictions from RGB, and RGB generated from the caption "
              "(the scored caption → rgb, then one caption → semseg → rgb chain sampled in random order "
              "at temperature 1).", ""]
    lines += [f"![{p.stem}]({p.name})" for p in pictures]
    lines += ["", "## Run", "", "```json", json.dumps(facts, indent=2), "```", ""]
    md = out / "report.md"
    md.write_text("\n".join(lines))
    body = []
    for ln in lines:
        if ln.startswith("!["):
            name = ln[ln.index("(") + 1:-1]
            data = base64.b64encode((out / name).read_bytes()).decode()
            body.append(f'<p><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"></p>')
        elif ln.startswith("|"):
            body.append(ln)
        elif ln.startswith("#"):
            level = len(ln) - len(ln.lstrip("#"))
            body.append(f"<h{level}>{html.escape(ln.lstrip('# '))}</h{level}>")
        elif ln and not ln.startswith("```"):
            body.append(f"<p>{html.escape(ln).replace('**', '')}</p>")
    page = _html_tables("\n".join(body))
    page += f"<pre>{html.escape(json.dumps(facts, indent=2))}</pre>"
    hp = out / "report.html"
    hp.write_text(f"<!doctype html><meta charset='utf-8'><title>fourm quickstart</title>"
                  f"<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}"
                  f"td,th{{border:1px solid #ccc;padding:3px 8px}}table{{border-collapse:collapse}}"
                  f"img{{max-width:100%}}</style>{page}")
    return md, hp


def _decoding_table(rows: list[dict]) -> list[str]:
    """Every decoding's score on the scored scenes, beside the one chosen on the dev scenes."""
    alt = [r for r in rows if r.get("by_decoding")]
    if not alt:
        return []
    return ["## Decoding per target", ""] + _score_table(
        "What each decoding scores on the scored scenes (the chosen one, picked on the dev scenes, in bold):",
        [(r["target"], r["metric"], r["baseline"], r["by_decoding"], r["decoding"]) for r in alt])


def _dev_table(dev: dict[str, dict[str, float]]) -> list[str]:
    """What each decoding scored on the dev scenes, where the choice was made."""
    if not dev:
        return []
    entries = [(*key.split("/"), got["baseline"], {n: v for n, v in got.items() if n != "baseline"}, None)
               for key, got in dev.items()]
    return _score_table("What each decoding scored on the dev scenes, where the choice was made:", entries)


def _score_table(intro: str, entries: list[tuple[str, str, float, dict[str, float], str | None]]) -> list[str]:
    """Rows of (target, metric, baseline, {decoding: value}, the one in bold), one column per decoding."""
    names = list(dict.fromkeys(n for *_, got, _ in entries for n in got))
    out = [intro, "", "| target | metric | baseline | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for target, metric, baseline, got, bold in entries:
        cells = ["—" if n not in got else f"**{_fmt(got[n])}**" if n == bold else _fmt(got[n]) for n in names]
        out.append(f"| {target} | {metric} | {_fmt(baseline)} | " + " | ".join(cells) + " |")
    return out + [""]


STAGE_TIMES = "## Stage times"


def append_stage_times(md: Path, seconds: dict[str, float]) -> None:
    """Wall-clock seconds per stage, last in ``report.md`` so two reports diff only here.

    A stage skipped on a rerun keeps the time of the run that made it."""
    text = md.read_text()
    text = text.split(f"\n{STAGE_TIMES}\n")[0].rstrip("\n") + "\n"
    rows = [f"| {name} | {sec:.0f} |" for name, sec in seconds.items()]
    total = f"| total | {sum(seconds.values()):.0f} |"
    md.write_text(text + "\n".join(["", STAGE_TIMES, "", "| stage | seconds |", "|---|---|", *rows, total, ""]))


def _html_tables(text: str) -> str:
    out, table = [], []
    for ln in text.splitlines() + [""]:
        if ln.startswith("|"):
            if not set(ln) <= set("|-"):
                table.append([html.escape(c.strip()) for c in ln.strip("|").split("|")])
            continue
        if table:
            head, *rest = table
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rest)
                       + "</table>")
            table = []
        out.append(ln)
    return "\n".join(out)
