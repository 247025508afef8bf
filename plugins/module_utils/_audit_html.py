# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. The credentials audit's HTML report.

render(report) -> one self-contained HTML page (inline CSS and SVG, no script, no external asset):
the finding counts, an environment x check matrix coloured by severity (columns titled by the
checks' titles, the check id and severity in a tooltip), a chart of key ages against the maximum
age, the findings table and the collection problems.

The page is a Jinja2 template (TEMPLATE below, shipped inside this module_utils file so that it
travels with the module wherever Ansible sends it), rendered by a sandboxed Jinja2 environment with
autoescaping: every value from the report is HTML-escaped. This module only computes the view
(counts, chart geometry). The report holds no secret, so neither does the page.
"""

try:  # Jinja2 (and MarkupSafe) are on every controller; this module runs there (delegated to localhost)
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from markupsafe import Markup

    HAS_JINJA2 = True
except ImportError:  # pragma: no cover - not on a controller
    HAS_JINJA2 = False

COLOURS = {"high": "#d93025", "medium": "#f29900", "low": "#1a73e8", "none": "#e6f4ea"}
TEXT_ON = {"high": "#ffffff", "medium": "#000000", "low": "#ffffff", "none": "#137333"}

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#202124;background:#fafafa}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.meta{color:#5f6368;font-size:13px;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border-radius:8px;padding:12px 18px;min-width:120px;color:#fff}
.card .n{font-size:32px;font-weight:700;display:block}
.card.total{background:#3c4043}.card.high{background:#d93025}.card.medium{background:#f29900;color:#000}
.card.low{background:#1a73e8}.card.ok{background:#188038}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #dadce0;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f1f3f4}
table.matrix td{text-align:center;min-width:34px;font-weight:700}
table.matrix th.check{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:600;height:170px}
td.sev-high{background:#d93025;color:#fff}td.sev-medium{background:#f29900;color:#000}
td.sev-low{background:#1a73e8;color:#fff}td.sev-none{background:#e6f4ea;color:#137333;font-weight:400}
table.findings{width:100%;table-layout:fixed}table.findings td{overflow-wrap:anywhere}
table.findings td.where code{word-break:break-all}table.findings td.fix{color:#3c4043}
span.sev{border-radius:4px;padding:1px 6px;font-weight:700}
span.sev-high{background:#d93025;color:#fff}span.sev-medium{background:#f29900;color:#000}span.sev-low{background:#1a73e8;color:#fff}
code{font-family:SFMono-Regular,Consolas,monospace;font-size:12px}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
"""

LEGEND = (("high", "#d93025"), ("medium", "#f29900"), ("low", "#1a73e8"), ("no finding", "#e6f4ea"))

TEMPLATE = "".join([
    r'<!DOCTYPE html>', '\n',
    r'<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>',
    r'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{{ css }}</style></head><body>',
    r'<h1>{{ title }}</h1>', '\n',
    r'<div class="meta">generated {{ report.generated_at }} &middot; {{ scope.environments | length }} environment(s), {{ scope.hosts |',
    r' length }} host(s), {{ scope.credentials_files }} credentials file(s), {{ scope.profiles }} profile(s), {{ scope.iam_users }} IAM',
    r' user(s), key pair {{ scope.key_pair or "-" }} in {{ scope.regions | length }} region(s) &middot; max age {{',
    r' thresholds.max_age_days }} days, unused {{ thresholds.unused_days }} days</div>', '\n',
    r'<div class="cards"><div class="card total">',
    r'<span class="n" id="count-total">{{ summary.findings }}</span>findings</div>', '\n',
    r'{%- for severity in ("high", "medium", "low") %}<div class="card {{ severity }}">',
    r'<span class="n" id="count-{{ severity }}">{{ summary.by_severity.get(severity, 0) }}</span>{{ severity }}</div>',
    r'{% endfor %}', '\n',
    r'{%- if not summary.findings %}<div class="card ok"><span class="n">&#10003;</span>no findings</div>{% endif %}',
    r'</div>', '\n',
    r'<h2>Findings by environment and check</h2>', '\n',
    r'<p class="legend">{% for name, colour in legend %}<span><i style="background:{{ colour }}">',
    r'</i>{{ name }}</span>{% endfor %}</p>', '\n',
    r'<table class="matrix"><tr><th>environment \ check</th>', '\n',
    r'{%- for check in checks %}',
    r'<th class="check" title="{{ check.check }} ({{ check.severity }})">{{ check.title or check.check }}</th>',
    r'{% endfor %}</tr>', '\n',
    r'{%- for row in matrix %}<tr><th>{{ row.label }}</th>', '\n',
    r'{%- for cell in row.cells %}{% if cell.count %}',
    r'<td class="sev-{{ cell.severity }}" title="{{ row.where }} {{ cell.check }}: {{ cell.count }}">{{ cell.count }}</td>',
    r'{% else %}<td class="sev-none">&middot;</td>{% endif %}{% endfor %}</tr>', '\n',
    r'{%- endfor %}</table>', '\n',
    r'<h2>Access key ages against the maximum age ({{ thresholds.max_age_days }} days)</h2>', '\n',
    r'{% if chart -%}', '\n',
    r'<svg xmlns="http://www.w3.org/2000/svg" width="{{ chart.width }}" height="{{ chart.height }}" role="img" aria-label="Access key ages">',
    r'<rect x="0" y="0" width="{{ chart.width }}" height="{{ chart.height }}" fill="#ffffff"/>', '\n',
    r'{%- for bar in chart.bars %}',
    r'<text x="{{ chart.label_w - 8 }}" y="{{ bar.y + 13 }}" font-size="12" text-anchor="end" fill="#202124">{{ bar.label }}</text>',
    r'<rect x="{{ chart.label_w }}" y="{{ bar.y }}" width="{{ "%.1f" | format(bar.width) }}" height="{{ chart.bar_h }}" fill="{{ bar.colour }}">',
    r'<title>{{ bar.label }}: {{ bar.days }} days</title></rect>',
    r'<text x="{{ "%.1f" | format(chart.label_w + bar.width + 4) }}" y="{{ bar.y + 13 }}" font-size="12" fill="#202124">{{ bar.days }}',
    r' d{% if not bar.days %} (new today){% endif %}',
    r'</text>{% endfor -%}', '\n',
    r'<line x1="{{ "%.1f" | format(chart.line_x) }}" y1="{{ chart.top - 8 }}" x2="{{ "%.1f" | format(chart.line_x) }}" y2="{{',
    r' chart.height - 20 }}" stroke="#d93025" stroke-width="2" stroke-dasharray="6,4"/>',
    r'<text x="{{ "%.1f" | format(chart.line_x) }}" y="{{ chart.top - 10 }}" font-size="12" fill="#d93025" text-anchor="middle">max age',
    r' {{ thresholds.max_age_days }} days</text>',
    r'<text x="{{ chart.label_w }}" y="{{ chart.height - 6 }}" font-size="11" fill="#5f6368">age in days (0 to {{ chart.scale_max | int }})</text>',
    r'</svg>', '\n',
    r'{%- else -%}', '\n',
    r'<p class="meta">No Active access keys among the audited IAM users.</p>', '\n',
    r'{%- endif %}', '\n',
    r'<h2>Findings ({{ summary.findings }})</h2>', '\n',
    r'{% if findings -%}', '\n',
    r'<table class="findings"><colgroup><col style="width:84px"><col style="width:172px"><col style="width:220px">',
    r'<col style="width:180px"><col><col></colgroup><tr><th>severity</th><th>check</th><th>where</th>',
    r'<th>IAM user / key id</th><th>message</th><th>fix</th></tr>', '\n',
    r'{%- for item in findings %}',
    r'<tr class="finding" data-check="{{ item.check }}" data-severity="{{ item.severity }}"><td>',
    r'<span class="sev sev-{{ item.severity }}">{{ item.severity }}</span></td><td>',
    r'<code title="{{ item.check }}">{{ item.check }}</code></td><td class="where">',
    r'<b>{{ item.scope or "controller" }}</b>', '\n',
    r'{%- if item.path %}<br><code>{{ item.path }}{% if item.profile %} [{{ item.profile }}]{% endif %}</code>',
    r'{% elif item.profile %}<br>[{{ item.profile }}]{% endif %}', '\n',
    r'{%- if item.region_text %}<br>{{ item.region_text }}{% endif %}</td>',
    r'<td class="where">{{ item.iam_user or "" }}{% if item.iam_user and item.access_key_id %}<br>{% endif %}',
    r'{% if item.access_key_id %}<code>{{ item.access_key_id }}</code>{% endif %}</td><td>{{ item.message }}</td>',
    r'<td class="fix">{{ item.fix }}</td></tr>{% endfor %}</table>', '\n',
    r'{%- else -%}', '\n',
    r'<p id="no-findings">No findings: every audited credential is consistent.</p>', '\n',
    r'{%- endif %}', '\n',
    r'{% if scheduled %}<h2>Keys scheduled for deletion ({{ scheduled | length }}): expected after a rotation</h2>',
    r'<table class="scheduled"><tr><th>environment</th><th>IAM user</th><th>key id</th><th>deactivated</th>',
    r'<th>deleted by the first rotation run after</th></tr>', '\n',
    r'{%- for item in scheduled %}<tr><td>{{ item.environment or "" }}</td><td>{{ item.iam_user }}</td>',
    r'<td><code>{{ item.access_key_id }}</code></td><td>{{ item.deactivated_date }}</td><td>{{ item.deletion_date }}',
    r'{% if item.due %} (due){% endif %}</td></tr>{% endfor %}</table>{% endif %}', '\n',
    r'{% if errors %}<h2>Not audited / collection problems ({{ errors | length }})</h2><table class="errors"><tr>',
    r'<th>environment</th><th>host</th><th>path</th><th>problem</th></tr>', '\n',
    r'{%- for err in errors %}<tr><td>{{ err.environment or "" }}</td><td>{{ err.host or "" }}</td><td>',
    r'<code>{{ err.path or "" }}</code></td><td>{{ err.message or "" }}</td></tr>{% endfor %}</table>{% endif %}', '\n',
    r'</body></html>', '\n',
    r'', '\n',
])


_TEMPLATES = []


def _template():
    if not HAS_JINJA2:
        raise RuntimeError("the HTML report needs the Python library Jinja2: run this module on the Ansible controller")
    if not _TEMPLATES:
        _TEMPLATES.append(ImmutableSandboxedEnvironment(autoescape=True, keep_trailing_newline=True).from_string(TEMPLATE))
    return _TEMPLATES[0]


#: The narrowest bar drawn, so that a key created today (0 days) is still visible.
MIN_BAR_WIDTH = 6.0


def _matrix(report):
    envs = list(report["scope"].get("environments") or [])
    findings = report["findings"]
    # findings about a user held in several environments of one account name them all ("dev,staging")
    envs += sorted(set(item["environment"] for item in findings if item["environment"] and item["environment"] not in envs))
    if any(item["environment"] is None for item in findings):
        envs.append(None)
    if not envs:
        envs = [None]
    rows = []
    for env in envs:
        cells = []
        for check in report["checks"]:
            count = sum(1 for item in findings if item["environment"] == env and item["check"] == check["check"])
            cells.append({"check": check["check"], "severity": check["severity"], "count": count})
        rows.append({"label": env if env is not None else "(controller)", "where": env or "controller", "cells": cells})
    return rows


def _chart(report):
    keys = [row for row in report.get("keys") or [] if row.get("status") == "Active" and row.get("age_days") is not None]
    if not keys:
        return None
    max_age = report["thresholds"]["max_age_days"]
    width, label_w, bar_h, gap, top = 1100, 330, 18, 6, 24
    height = top + len(keys) * (bar_h + gap) + 30
    scale_max = max([max_age, 1] + [row["age_days"] for row in keys]) * 1.1
    plot_w = width - label_w - 60

    def x_of(days):
        return label_w + plot_w * days / scale_max

    bars = []
    for index, row in enumerate(keys):
        bars.append({
            "y": top + index * (bar_h + gap),
            "label": "%s / %s %s" % (row["environment"], row["iam_user"], row["access_key_id"]),
            "days": row["age_days"],
            "width": max(MIN_BAR_WIDTH, x_of(row["age_days"]) - label_w),
            "colour": COLOURS["medium"] if row["age_days"] >= max_age else "#34a853",
        })
    return {"width": width, "height": height, "label_w": label_w, "bar_h": bar_h, "top": top,
            "scale_max": scale_max, "line_x": x_of(max_age), "bars": bars}


def _findings(findings):
    rows = []
    for item in findings:
        row = dict(item)
        row["scope"] = " / ".join(part for part in (item["environment"], item["host"]) if part)
        row["region_text"] = " / ".join(part for part in (item["region"], item["key_pair"]) if part)
        rows.append(row)
    return rows


def render(report):
    """The HTML page of a report built by _audit.build_report()."""
    summary = report["summary"]
    sev = summary["by_severity"]
    title = "Credentials audit: %d findings (%d high, %d medium, %d low)" % (
        summary["findings"], sev.get("high", 0), sev.get("medium", 0), sev.get("low", 0))
    return _template().render(
        title=title, css=Markup(CSS), report=report, scope=report["scope"], thresholds=report["thresholds"], summary=summary,
        legend=LEGEND, checks=report["checks"], matrix=_matrix(report), chart=_chart(report),
        findings=_findings(report["findings"]), errors=report.get("errors") or [],
        scheduled=report.get("scheduled_deletions") or [],
    )
