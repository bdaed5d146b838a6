"""`qi-nudge stats --involvement`: how involved people feel, outside chat, without comments."""

import pytest

from tests.bot.cli.test_stats import qi

SQLITE = pytest.mark.parametrize("fresh_database_url", ["sqlite"], indirect=True)


@SQLITE
def test_stats_involvement_prints_the_periods_and_writes_the_chart(fresh_database_url, tmp_path):
    assert qi(fresh_database_url, "demo").returncode == 0
    chart = tmp_path / "involvement.png"

    result = qi(fresh_database_url, "stats", "--involvement", "--chart", str(chart))

    assert result.returncode == 0, result.stderr
    assert "How involved people feel" in result.stdout
    assert "periods shown" in result.stdout
    assert chart.read_bytes().startswith(b"\x89PNG")
    # Comments stay in chat, for organisers' eyes only.
    assert "What people said" not in result.stdout
    assert "Traceback" not in result.stderr
