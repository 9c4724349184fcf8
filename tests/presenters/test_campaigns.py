"""Campaigns as the backoffice shows and edits them, without Reflex or a database: the editor's fields to and from a
config (money typed in major units, stored in minor units; errors that name the field), rows, versions and pixels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.presenters.campaigns import (
    EditorFields,
    RuleItem,
    campaign_item,
    channel_group_label,
    editor_config,
    editor_fields,
    new_condition,
    pixel_options,
    version_items,
)
from app.services.campaigns import CampaignRow, VersionRow
from app.services.errors import ValidationFailed
from app.services.pixels import PixelRow

CONFIG = {
    "matching_rules": [{"conditions": [{"field": "utm_campaign", "op": "prefix", "value": "spring"}]}],
    "landing_url": "https://shop.example.com/spring",
    "budget": {"amount": 15050, "currency": "EUR", "period": "monthly"},
    "targets": {"target_cpa": 2500, "currency": None, "min_roas": 2.5, "min_conversion_rate": None},
    "notes": "Video, 10% off",
}


def test_a_config_reads_back_as_the_editor_shows_it() -> None:
    fields = editor_fields(CONFIG)
    assert (fields.budget_amount, fields.budget_currency, fields.budget_period) == ("150.50", "EUR", "monthly")
    assert (fields.target_cpa, fields.min_roas, fields.min_conversion_rate) == ("25.00", "2.5", "")
    assert fields.rules == [RuleItem(conditions=[{"field": "utm_campaign", "op": "prefix", "value": "spring"}])]
    assert editor_config(fields) == {**CONFIG, "targets": {**CONFIG["targets"], "currency": "EUR",
                                                            "min_roas": "2.5"}}  # fmt: skip
    # A target CPA without a budget keeps its own currency in the one Currency field; JPY has no decimals.
    alone = editor_fields({"targets": {"target_cpa": 1500, "currency": "JPY"}})
    assert (alone.target_cpa, alone.budget_currency, alone.budget_amount) == ("1500", "JPY", "")
    assert editor_fields({}) == EditorFields()


def test_typed_amounts_become_minor_units_or_say_what_is_wrong() -> None:
    config = editor_config(EditorFields(budget_amount=" 10,5 ", budget_currency="eur", target_cpa="3"))
    assert config["budget"] == {"amount": 1050, "currency": "EUR", "period": "daily"}
    assert config["targets"]["target_cpa"] == 300 and config["targets"]["currency"] == "EUR"
    assert editor_config(EditorFields())["budget"] is None
    with pytest.raises(ValidationFailed) as error:
        editor_config(EditorFields(target_cpa="25"))
    assert error.value.message.startswith("The target CPA needs a currency") and error.value.field == "budget.currency"
    with pytest.raises(ValidationFailed) as error:
        editor_config(EditorFields(budget_amount="12.5", budget_currency="JPY"))
    assert (error.value.message, error.value.field) == ("The budget: JPY amounts take no decimals.", "budget.amount")
    with pytest.raises(ValidationFailed) as error:
        editor_config(EditorFields(budget_amount="12", budget_currency="XYZ"))
    assert error.value.field == "budget.currency"  # the currency is what is wrong, not the amount


def test_rows_versions_and_pixels_as_the_pages_show_them() -> None:
    at = datetime(2026, 3, 29, 12, tzinfo=UTC)
    row = CampaignRow("cmp_1", "Spring", "meta", "paid_social", "active", 0, 2, True, 1, at)
    item = campaign_item(row)
    assert (item["url"], item["channel_group"], item["version"]) == ("/campaigns/cmp_1", "Paid social", "v2")
    assert campaign_item(CampaignRow("cmp_2", "New", "meta", "x", "draft", 0, None, True, 0, at))["version"] == "—"
    assert channel_group_label("unknown_group") == "unknown_group"
    versions = [VersionRow("cv_2", 2, {}, "Cheaper", "", at), VersionRow("cv_1", 1, {}, "", "ann@example.com", at)]
    v2, v1 = version_items(versions, 2, "Europe/Paris")
    assert (v2["label"], v2["author"], v2["published_at"], v2["is_active"]) == ("v2", "API", "2026-03-29 14:00", True)
    assert (v1["author"], v1["is_active"]) == ("ann@example.com", False)

    def pixel(public_id: str, name: str) -> PixelRow:
        return PixelRow(public_id, "meta", name, {}, "", [], True, False, at)

    attached, other = pixel("px_1", "Shop"), pixel("px_2", "Backup")
    assert pixel_options([attached, other], [attached]) == [{"public_id": "px_2", "label": "Backup (meta)"}]
    assert new_condition() == {"field": "utm_campaign", "op": "equals", "value": ""}
