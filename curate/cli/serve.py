"""``curate serve MODEL [--adapter DIR]``: an OpenAI-compatible chat server (see ``curate.serve``)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.argument("model")
@click.option("--adapter", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A LoRA adapter folder (e.g. runs/NAME/train/adapter), merged into MODEL.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port (0: any free port).")
@click.option("--name", default=None, help="Model id clients send (default: MODEL, or MODEL+RUN).")
def serve_cmd(model: str, adapter: Path | None, host: str, port: int, name: str | None) -> None:
    """Serve MODEL (a packaged name such as smollm2-135m, or a local folder) at /v1/chat/completions.

    Prompts are rendered by curate's chat renderer, as training renders them; decoding is greedy
    unless a request sets temperature. Point any OpenAI client at the printed base URL, or use it as
    a judge: score.judge: {endpoint: {base_url: ..., model: ...}}. Stop with Ctrl-C.
    """
    from curate.serve import load_chat_model, serve

    cm = load_chat_model(model, adapter=adapter, name=name)
    httpd = serve(cm, host=host, port=port)
    h, p = httpd.server_address[:2]
    click.echo(f"serving {cm.model_id!r} at http://{h}:{p}/v1 (fingerprint {cm.info['fingerprint']})")
    import sys

    sys.stdout.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
