"""Chart details a reader notices: a measure with no figures is named as missing, not listed in the legend."""

from __future__ import annotations

import pandas as pd

from reports.charts import healthcare_lines


def test_a_healthcare_measure_with_no_figures_is_named_in_its_panel_not_in_the_legend() -> None:
    days = pd.date_range("2023-11-01", periods=10, freq="D")
    rows = []
    for area in ("London", "Rest of England"):
        for day in days:
            rows += [
                {"area_name": area, "date": day, "healthcare_type": "Patients admitted to Hospital", "patients": 40},
                {"area_name": area, "date": day, "healthcare_type": "Patients in Hospital", "patients": 500},
                # Mechanical ventilation beds stopped being reported for London only.
                {"area_name": area, "date": day, "healthcare_type": "Patients in mechanical ventilation beds",
                 "patients": None if area == "London" else 30},
            ]
    figure = healthcare_lines(pd.DataFrame(rows))
    ventilation = [t for t in figure.data if t.name == "Patients in mechanical ventilation beds"]
    # Only the Rest of England panel draws it (the second row's axes), and its legend entry is shown once.
    assert [t.yaxis for t in ventilation] == ["y3"] and ventilation[0].showlegend
    notes = [a for a in figure.layout.annotations if a.text.startswith("No data")]
    assert [(a.text, a.yref) for a in notes] == [
        ("No data in this release: Patients in mechanical ventilation beds", "y domain")]
