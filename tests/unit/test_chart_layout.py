"""What keeps the console's charts and tables legible at any width: axes sized to their labels,
legends clear of the axis titles, a unit on every reading's axis, headers wrapping between words
(the screenshot pass, tests/e2e/test_screenshots.py, measures the drawn page)."""

from __future__ import annotations

from app.console import chart, grids, traffic, weather


def test_every_axis_makes_room_for_its_labels_and_a_horizontal_legend_sits_at_the_foot() -> None:
    layout = chart.layout("t", 300, yaxis2={"overlaying": "y", "side": "right"}, legend={"orientation": "h"})
    assert all(layout[axis]["automargin"] is True for axis in ("xaxis", "yaxis", "yaxis2"))
    assert layout["legend"]["orientation"] == "h"
    assert (layout["legend"]["yref"], layout["legend"]["y"], layout["legend"]["yanchor"]) == ("container", 0, "bottom")
    # a legend placed by its chart stays where it was put
    assert chart.layout("t", 300, legend={"orientation": "h", "y": 1})["legend"] == {"orientation": "h", "y": 1}


def test_each_reading_per_station_has_an_axis_of_its_own_titled_with_its_unit() -> None:
    figure = weather.readings_figure([{"id": "ws-1", "temperature": 5.0, "precipitation": 0.2}])
    axes = [trace["yaxis"] for trace in figure["data"]]
    assert len(set(axes)) == len(weather.READINGS) == 4
    titles = [figure["layout"]["yaxis" + axis[1:]]["title"]["text"] for axis in axes]
    assert titles == ["temp. (°C)", "rain (mm/h)", "wind (km/h)", "AQI"]
    assert [trace["meta"] for trace in figure["data"]] == [key for key, _ in weather.READINGS]  # the browser's key
    assert figure["layout"]["xaxis"]["title"]["text"] == "station"


def test_road_names_are_cut_on_an_axis_and_the_worst_chart_is_titled() -> None:
    assert chart.short_road("Am Studio") == "Am Studio"
    cut = chart.short_road("Katharina-Boll-Dornberger-Straße")
    assert len(cut) == chart.ROAD_LABEL_CHARS and cut.endswith("…")
    layout = traffic.worst_figure()["layout"]
    assert layout["xaxis"]["title"]["text"] == "speed (km/h)" and layout["yaxis"]["title"]["text"]
    assert layout["meta"]["road_label_chars"] == chart.ROAD_LABEL_CHARS  # what the browser cuts to


def test_a_column_is_never_narrower_than_its_longest_header_word() -> None:
    assert grids.header_width("Age") == 90
    assert grids.header_width("Acknowledged by") > grids.header_width("Occupancy (%)") > grids.header_width("Camera")
    table = grids.grid("g", [{"field": "a", "headerName": "Acknowledged by"}, {"field": "b", "minWidth": 300}], "")
    assert [c["minWidth"] for c in table.columnDefs] == [grids.header_width("Acknowledged by"), 300]
    assert table.dashGridOptions["enableBrowserTooltips"] is True  # a cut cell's whole text in its title
