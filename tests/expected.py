"""Expected MoEngage output for the Kognitiv fixtures, shared by unit and function tests."""

REWARD_ELEMENT = {
    "type": "event",
    "customer_id": "100245",
    "actions": [
        {
            "action": "rewards_issued",
            "current_time": "2026-03-14T09:30:00Z",
            "attributes": {
                "issued_date": "2026-03-14T09:30:00Z",
                "issued_location_name": "Downtown Flagship",
                "reward_type": "Choice",
                "reward_name": "10% Off Voucher",
                "reward_value": 10.0,
                "reward_point_cost": 1000,
            },
        }
    ],
}

MEMBER_ATTRIBUTES = {
    "email": "jordan.lee@example.com",
    "first_name": "Jordan",
    "last_name": "Lee",
    "city": "Chicago",
    "country": "US",
    "points_balance": 500,
    "email_contact_allowed": True,
    # no moe_unsubscribe: contact allowed never re-subscribes (only member_consent_changed may)
    "sms_contact_allowed": False,
}
