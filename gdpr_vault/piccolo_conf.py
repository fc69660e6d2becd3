"""Piccolo's configuration module, pointed to by PICCOLO_CONF (set in gdpr_vault.db)."""

from piccolo.conf.apps import AppRegistry

from gdpr_vault.db import get_engine

DB = get_engine()

APP_REGISTRY = AppRegistry(apps=["gdpr_vault.piccolo_app"])
