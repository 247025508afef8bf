# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. The credentials audit's HTML report.

render(report) -> one self-contained HTML page (inline CSS and SVG, no script, no external asset):
the finding counts, an environment x check matrix coloured by severity, a chart of key ages
against the maximum age, the findings table and the collection problems. Every value from the
report is HTML-escaped. The report holds no secret, so neither does the page.
"""

from html import escape

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


def _e(value):
    if value is None:
        return ""
    return escape(str(value), quote=True)


def _cards(summary):
    sev = summary["by_severity"]
    cards = ['<div class="card total"><span class="n" id="count-total">%d</span>findings</div>' % summary["findings"]]
    for severity in ("high", "medium", "low"):
        cards.append('<div class="card %s"><span class="n" id="count-%s">%d</span>%s</div>' % (severity, severity, sev.get(severity, 0), severity))
    if not summary["findings"]:
        cards.append('<div class="card ok"><span class="n">&#10003;</span>no findings</div>')
    return '<div class="cards">%s</div>' % "".join(cards)


def _matrix(report):
    envs = list(report["scope"].get("environments") or [])
    findings = report["findings"]
    if any(item["environment"] is None for item in findings):
        envs.append(None)
    if not envs:
        envs = [None]
    head = "".join('<th class="check" title="%s">%s</th>' % (_e(check["severity"]), _e(check["check"])) for check in report["checks"])
    rows = []
    for env in envs:
        cells = []
        for check in report["checks"]:
            count = sum(1 for item in findings if item["environment"] == env and item["check"] == check["check"])
            if count:
                cells.append('<td class="sev-%s" title="%s %s: %d">%d</td>' % (
                    _e(check["severity"]), _e(env or "controller"), _e(check["check"]), count, count))
            else:
                cells.append('<td class="sev-none">&middot;</td>')
        rows.append("<tr><th>%s</th>%s</tr>" % (_e(env if env is not None else "(controller)"), "".join(cells)))
    return '<table class="matrix"><tr><th>environment \\ check</th>%s</tr>%s</table>' % (head, "".join(rows))


def _chart(report):
    keys = [row for row in report.get("keys") or [] if row.get("status") == "Active" and row.get("age_days") is not None]
    max_age = report["thresholds"]["max_age_days"]
    if not keys:
        return '<p class="meta">No Active access keys among the audited IAM users.</p>'
    width = 1100
    label_w = 330
    bar_h = 18
    gap = 6
    top = 24
    height = top + len(keys) * (bar_h + gap) + 30
    scale_max = max([max_age, 1] + [row["age_days"] for row in keys]) * 1.1
    plot_w = width - label_w - 60

    def x_of(days):
        return label_w + plot_w * days / scale_max

    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="Access key ages">' % (width, height)]
    parts.append('<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (width, height))
    for index, row in enumerate(keys):
        y = top + index * (bar_h + gap)
        old = row["age_days"] >= max_age
        colour = COLOURS["medium"] if old else "#34a853"
        label = "%s / %s %s" % (row["environment"], row["iam_user"], row["access_key_id"])
        parts.append('<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#202124">%s</text>' % (label_w - 8, y + 13, _e(label)))
        bar_w = max(2.0, x_of(row["age_days"]) - label_w)
        parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %d days</title></rect>'
                     % (label_w, y, bar_w, bar_h, colour, _e(label), row["age_days"]))
        parts.append('<text x="%.1f" y="%d" font-size="12" fill="#202124">%d d</text>' % (label_w + bar_w + 4, y + 13, row["age_days"]))
    line_x = x_of(max_age)
    parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d93025" stroke-width="2" stroke-dasharray="6,4"/>'
                 % (line_x, top - 8, line_x, height - 20))
    parts.append('<text x="%.1f" y="%d" font-size="12" fill="#d93025" text-anchor="middle">max age %d days</text>'
                 % (line_x, top - 10 if top > 12 else 12, max_age))
    parts.append('<text x="%d" y="%d" font-size="11" fill="#5f6368">age in days (0 to %d)</text>' % (label_w, height - 6, int(scale_max)))
    parts.append("</svg>")
    return "".join(parts)


def _findings_table(findings):
    if not findings:
        return '<p id="no-findings">No findings: every audited credential is consistent.</p>'
    head = ('<colgroup><col style="width:84px"><col style="width:172px"><col style="width:220px"><col style="width:180px">'
            "<col><col></colgroup>"
            "<tr><th>severity</th><th>check</th><th>where</th><th>IAM user / key id</th><th>message</th><th>fix</th></tr>")
    rows = []
    for item in findings:
        where = []
        scope = " / ".join(_e(part) for part in (item["environment"], item["host"]) if part)
        where.append("<b>%s</b>" % (scope or "controller"))
        if item["path"]:
            path = item["path"] + (" [%s]" % item["profile"] if item["profile"] else "")
            where.append("<code>%s</code>" % _e(path))
        elif item["profile"]:
            where.append("[%s]" % _e(item["profile"]))
        region = " / ".join(part for part in (item["region"], item["key_pair"]) if part)
        if region:
            where.append(_e(region))
        subject = [part for part in (_e(item["iam_user"]), "<code>%s</code>" % _e(item["access_key_id"]) if item["access_key_id"] else "") if part]
        rows.append(
            '<tr class="finding" data-check="%s" data-severity="%s"><td><span class="sev sev-%s">%s</span></td>'
            '<td><code>%s</code></td><td class="where">%s</td><td class="where">%s</td><td>%s</td><td class="fix">%s</td></tr>'
            % (_e(item["check"]), _e(item["severity"]), _e(item["severity"]), _e(item["severity"]), _e(item["check"]),
               "<br>".join(where), "<br>".join(subject), _e(item["message"]), _e(item["fix"])))
    return '<table class="findings">%s%s</table>' % (head, "".join(rows))


def _errors(errors):
    if not errors:
        return ""
    rows = "".join("<tr><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td></tr>"
                   % (_e(err.get("environment")), _e(err.get("host")), _e(err.get("path")), _e(err.get("message"))) for err in errors)
    return ('<h2>Not audited / collection problems (%d)</h2><table class="errors"><tr><th>environment</th><th>host</th>'
            "<th>path</th><th>problem</th></tr>%s</table>" % (len(errors), rows))


def render(report):
    """The HTML page of a report built by _audit.build_report()."""
    summary = report["summary"]
    scope = report["scope"]
    thresholds = report["thresholds"]
    sev = summary["by_severity"]
    title = "Credentials audit: %d findings (%d high, %d medium, %d low)" % (
        summary["findings"], sev.get("high", 0), sev.get("medium", 0), sev.get("low", 0))
    meta = ("generated %s &middot; %d environment(s), %d host(s), %d credentials file(s), %d profile(s), %d IAM user(s), "
            "key pair %s in %d region(s) &middot; max age %d days, unused %d days"
            % (_e(report["generated_at"]), len(scope["environments"]), len(scope["hosts"]), scope["credentials_files"],
               scope["profiles"], scope["iam_users"], _e(scope.get("key_pair") or "-"), len(scope["regions"]),
               thresholds["max_age_days"], thresholds["unused_days"]))
    legend = ('<p class="legend"><span><i style="background:#d93025"></i>high</span><span><i style="background:#f29900"></i>medium</span>'
              '<span><i style="background:#1a73e8"></i>low</span><span><i style="background:#e6f4ea"></i>no finding</span></p>')
    body = [
        "<h1>%s</h1>" % _e(title),
        '<div class="meta">%s</div>' % meta,
        _cards(summary),
        "<h2>Findings by environment and check</h2>",
        legend,
        _matrix(report),
        "<h2>Access key ages against the maximum age (%d days)</h2>" % thresholds["max_age_days"],
        _chart(report),
        "<h2>Findings (%d)</h2>" % summary["findings"],
        _findings_table(report["findings"]),
        _errors(report.get("errors")),
    ]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><style>%s</style></head>'
            "<body>%s</body></html>\n" % (_e(title), CSS, "\n".join(body)))
