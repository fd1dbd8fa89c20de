"""Generated code (stitched top, testbenches, TCL, board tops) comes from Jinja2 templates with
strict fill: a key the template uses but the caller did not give is an error
(``StrictUndefined``), never a silent blank. Templates are package data in a ``templates/``
folder of the package that owns them."""

from __future__ import annotations

import functools

import jinja2


class TemplateError(RuntimeError):
    """A template could not be rendered (missing key, syntax error, missing file)."""


@functools.lru_cache(maxsize=None)
def _env(package: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(package: str, name: str, **context) -> str:
    """Render ``<package>/templates/<name>`` with ``context``; raises :class:`TemplateError`
    naming the template and the missing key."""
    try:
        return _env(package).get_template(name).render(**context)
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {package}/templates/{name}: {exc} (a key the template needs "
                            "was not given)") from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {package}/templates/{name}: {type(exc).__name__}: {exc}") from exc
