"""Chalice's CDK construct, deploying ``build/deployment.zip`` (``make package``) instead of
the package Chalice builds itself.

Chalice's package ships every dependency whole and without bytecode (40 MB, compiled on
every cold start); ours is pruned and precompiled (``scripts/lambda_package/``). Chalice
still writes the SAM template (functions, APIs, event sources), from a folder that links
the app, ``chalicelib`` and ``.chalice/config.json`` but holds no ``requirements.txt``, so it
installs nothing; then every function's ``CodeUri`` becomes our zip's asset, and its
``Runtime`` the one the zip was compiled for (Chalice would take the synthesizing
interpreter's). Synthesis rebuilds the zip first if its inputs changed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from aws_cdk import aws_s3_assets as assets
from chalice import api
from chalice.cdk import Chalice

from infra.settings import PROJECT_DIR
from scripts.lambda_package import runtime
from scripts.lambda_package.build import OUT, ensure_built

TEMPLATE_PROJECT = OUT / "chalice-project"
LINKED = ("app.py", "chalicelib", ".chalice/config.json")


class UnexpectedLayer(RuntimeError):
    """Chalice made a managed layer; the zip already holds every dependency."""


def template_project(project: Path) -> Path:
    """The folder Chalice packages: links to the app's files, no requirements. Chalice's
    cache of its own (unused) zips is emptied so it does not grow with every change."""
    folder = project / TEMPLATE_PROJECT
    shutil.rmtree(folder / ".chalice" / "deployments", ignore_errors=True)
    for name in LINKED:
        link, target = folder / name, project / name
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(target, link.parent))
    return folder


class PackagedChalice(Chalice):
    """``chalice.cdk.Chalice`` with our zip as every function's code."""

    def _package_app(self) -> None:
        self._package = ensure_built(PROJECT_DIR)
        api.package_app(
            project_dir=str(template_project(PROJECT_DIR)),
            output_dir=self._sam_package_dir,
            stage=self.stage_name,
            chalice_config=self.stage_config,
        )

    def _generate_sam_template_with_assets(self, chalice_out_dir: str, package_id: str) -> str:
        code = assets.Asset(self, "ChaliceAppCode", path=str(self._package.path))
        template: dict[str, Any] = json.loads(
            (Path(self._sam_package_dir) / "sam.json").read_text()
        )
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Serverless::LayerVersion":
                raise UnexpectedLayer(f"{logical_id}: set automatic_layer to false")
            if resource["Type"] == "AWS::Serverless::Function":
                properties = resource["Properties"]
                properties["CodeUri"] = {"Bucket": code.s3_bucket_name, "Key": code.s3_object_key}
                properties["Runtime"] = runtime.RUNTIME
        written = Path(chalice_out_dir) / f"{package_id}.sam_with_assets.json"
        written.write_text(json.dumps(template, indent=2))
        return str(written)
