"""The built-in session templates, installed as the package `audiogen.scripts_templates`."""
