"""Field names Kognitiv Inspire is known to render (its public templates, partner pages and
legacy reward API). Used to spot placeholders that can never resolve, such as typos."""

KNOWN_KOGNITIV_FIELDS = frozenset(
    {
        "event", "memberId", "memberEmail", "memberFirstName", "memberLastName", "memberMobile",
        "memberAddressCO", "memberAddressCity", "memberPointsAvailable",
        "memberEmailContactAllowed", "memberSmsContactAllowed", "issuedDate", "issuedTimestamp",
        "issuedLocationName", "rewardType", "rewardName", "rewardValue", "rewardPointCost",
        "rewardId", "rewardExternalReference", "externalReference", "cardId", "redeemedDate",
        "redeemedTimestamp", "redeemedLocationName", "issuingDevice", "issuingLocation",
    }
)  # fmt: skip
