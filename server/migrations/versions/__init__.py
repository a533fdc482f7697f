"""Alembic revision scripts (a package so they ship as package data)."""
