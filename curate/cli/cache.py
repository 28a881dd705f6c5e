"""``curate cache info`` and ``curate cache clear``: the ``CURATE_CACHE`` folders (see ``curate.cache``)."""

from __future__ import annotations

import click

from curate import cache


@click.group("cache")
def cache_group() -> None:
    """Show or clear CURATE_CACHE (converted models, tokenized data, scores, kernel tables)."""


@cache_group.command("info")
def info() -> None:
    """Per kind: folder, files, size and what it holds."""
    click.echo(f"root: {cache.cache_root()}")
    for u in cache.usage():
        click.echo(f"{u.kind:<10} {u.files:>6} files {u.bytes / 2**20:>10.1f} MiB  {u.path}  ({u.about})")


@cache_group.command("clear")
@click.argument("kinds", nargs=-1, type=click.Choice(list(cache.KINDS)))
def clear(kinds: tuple[str, ...]) -> None:
    """Delete KINDS (all when none is named); everything is rebuilt on demand."""
    freed = cache.clear(list(kinds) or None)
    click.echo(f"freed {freed / 2**20:.1f} MiB")
