"""The people who call the API: a Cognito user pool, the CLI's app client, and the groups
the app grants roles from.

Nobody signs up: an administrator creates each user (``admin-create-user``) and puts them in
groups. Users sign in with their email address. The CLI has no client secret (it cannot keep
one) and signs in with ``USER_PASSWORD_AUTH`` or SRP, then refreshes; it sends the ID token,
which carries ``cognito:username`` and ``cognito:groups``, to the main API. Scoped groups
(``o2dms-operator:production``) are created by operators, not here.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.auth import GROUPS, ROLES
from infra.settings import StageSettings

MIN_PASSWORD_LENGTH = 14
# Lower wins: admin, then operator, then viewer (Cognito orders a user's groups by it).
_PRECEDENCE = {group: len(GROUPS) - i for i, group in enumerate(GROUPS)}
_DESCRIPTIONS = {
    "o2dms-viewer": "Reads deployments, descriptors, history and operations",
    "o2dms-operator": "Viewer, and deploys, upgrades, scales, rolls back; schedules; alarms",
    "o2dms-admin": "Operator, and terminates; manages descriptors and managers; reads the audit",
}


class Users(Construct):
    """The user pool, its CLI client and the three groups."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StageSettings) -> None:
        super().__init__(scope, construct_id)
        self.pool = cognito.UserPool(
            self,
            "Pool",
            user_pool_name=f"{settings.prefix}-users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=MIN_PASSWORD_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OFF,
            # Nothing here needs more than the base plan (no threat protection, no managed login).
            feature_plan=cognito.FeaturePlan.LITE,
            deletion_protection=settings.user_pool_deletion_protection,
            removal_policy=settings.user_pool_removal,
        )
        self.client = self.pool.add_client(
            "Cli",
            user_pool_client_name=f"{settings.prefix}-cli",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        self.groups = {
            group: cognito.UserPoolGroup(
                self,
                f"{role.capitalize()}Group",
                user_pool=self.pool,
                group_name=group,
                description=_DESCRIPTIONS[group],
                precedence=_PRECEDENCE[group],
            )
            for role, group in zip(ROLES, GROUPS, strict=True)
        }

    @property
    def issuer(self) -> str:
        """The tokens' ``iss``: ``https://cognito-idp.<region>.amazonaws.com/<pool id>``."""
        return f"https://{self.pool.user_pool_provider_url}"
