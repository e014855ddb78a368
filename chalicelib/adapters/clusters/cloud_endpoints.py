"""Where the GKE and AKS credentials providers call: Google's GKE API, Entra ID (Azure's
token issuer) and Azure Resource Manager.

The defaults are the public clouds. A sovereign cloud (Azure China, US Government) or a
test's local stand-ins change them through the environment; Google's token endpoint is not
here, because each service-account key names its own (``token_uri``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

GKE_API_URL = "https://container.googleapis.com"
AZURE_AUTHORITY_HOST = "https://login.microsoftonline.com"
AZURE_MANAGEMENT_URL = "https://management.azure.com"


@dataclass(frozen=True, slots=True)
class CloudEndpoints:
    gke_api_url: str = GKE_API_URL
    azure_authority_host: str = AZURE_AUTHORITY_HOST  # https only (azure-identity's rule)
    azure_management_url: str = AZURE_MANAGEMENT_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CloudEndpoints:
        return cls(
            gke_api_url=_url(env, "O2DMS_GKE_API_URL", GKE_API_URL),
            azure_authority_host=_url(env, "O2DMS_AZURE_AUTHORITY_HOST", AZURE_AUTHORITY_HOST),
            azure_management_url=_url(env, "O2DMS_AZURE_MANAGEMENT_URL", AZURE_MANAGEMENT_URL),
        )


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{name}={value!r}: use an https:// URL")
    return value
