"""The peer of `geepipe report`: what a user does today in a notebook. Reads the same long table with pandas,
draws the class totals per year (stacked areas) and the per-year distribution of each continuous statistic
(box plots) with plotly, and writes one self-contained HTML file (plotly.js inline). No map, no site view,
no run section: only the aggregate charts. Usage: report_peer.py TABLE.csv OUT.html"""
import sys

import pandas as pd
import plotly.express as px

table, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(table)
parts = []
cat = df[df["kind"] == "categorical"]
for layer, g in cat.groupby("layer"):
    totals = g.groupby(["year", "class_name"], as_index=False)["area_ha"].sum()
    parts.append(px.area(totals, x="year", y="area_ha", color="class_name", title=layer))
cont = df[df["kind"] == "continuous"]
for (layer, band, stat), g in cont.groupby(["layer", "band", "stat"]):
    parts.append(px.box(g, x="year", y="value", title=f"{layer} {band} {stat}", points=False))
with open(out, "w", encoding="utf-8") as f:
    f.write("<html><body>")
    for i, fig in enumerate(parts):
        f.write(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    f.write("</body></html>")
print(len(parts))
