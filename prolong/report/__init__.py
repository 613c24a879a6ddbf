"""Tables and figures of the paper, rendered from the tidy run table (`prolong.run_table.load_runs`)."""

from prolong.report.tables import TABLES, render_all, render_table_id

__all__ = ["TABLES", "render_all", "render_table_id"]
