"""The web dashboard (网页工作台) for leaders and offices: the same use cases as the bot
(services/), rendered as pages on the process's aiohttp server. No JavaScript; templates and
the stylesheet ship in the package; charts are drawn on the server as SVG."""

from web.app import Dashboard, add_dashboard, dashboard_app

__all__ = ["Dashboard", "add_dashboard", "dashboard_app"]
