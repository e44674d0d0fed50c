"""Telegram handlers, one module per concern; `register` wires them to an Application."""
