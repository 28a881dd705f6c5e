"""``select.*``: keep the best rows by a score: any score column (``select.top``) or IFD (``select.ifd``)."""

STAGES: dict[str, str] = {
    "select.top": "curate.stages.select.top",
    "select.ifd": "curate.stages.select.ifd",
}
