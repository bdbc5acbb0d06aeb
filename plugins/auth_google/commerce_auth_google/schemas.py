"""Request and response bodies of the auth_google endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from commerce_kernel.bodies import Body


class GoogleConfig(BaseModel):
    """What a front end needs to start Google's OAuth flow."""

    client_id: str
    authorization_endpoint: str
    scopes: list[str]


class GoogleSignInIn(Body):
    """Either the `id_token` Google gave the front end, or an authorization `code` with the
    `redirect_uri` it was issued for (the backend redeems it); with the `nonce` of the
    request when the front end sent one to Google."""

    id_token: str | None = Field(default=None, min_length=1, max_length=8192)
    code: str | None = Field(default=None, min_length=1, max_length=2048)
    redirect_uri: str | None = Field(default=None, min_length=1, max_length=2048)
    nonce: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="The `nonce` the front end sent to Google: the ID token must carry it.",
    )

    @model_validator(mode="after")
    def _one_way(self) -> GoogleSignInIn:
        if self.id_token is not None:
            if self.code is not None:
                raise ValueError("send either id_token or code with redirect_uri, not both")
        elif self.code is None or self.redirect_uri is None:
            raise ValueError("send id_token, or code with redirect_uri")
        return self
