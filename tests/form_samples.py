"""One valid, realistic submission for every form in forms/ — a new form needs its sample here.

`tests/api/test_form_samples.py` checks that every form has a sample, that each sample passes the
server's checks, and that each bundle runs to its end when every task is submitted with them.
Tests take a sample with `sample(name, **changes)`: the changes are applied, and the fields the
form then hides (a permit number once the decision is "reject", another department's findings)
are left out, as form-js leaves them out of what it submits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.forms import registry
from orchestrator.forms.validation import visible_fields

ID_NUMBER = "630102198801011234"
TODAY = "2026-11-30"


def _review(item: str, detail_key: str | None, detail: Any) -> dict[str, Any]:
    values = {f"{item}_decision": "approve", f"{item}_opinion": "材料齐全，符合法定条件，准予。"}
    if detail_key:
        values[detail_key] = detail
    return values


SAMPLES: dict[str, dict[str, Any]] = {
    "correction": {
        "correction_materials": "补交经营场所租赁合同复印件", "correction_received_at": TODAY,
        "correction_completed": True, "correction_note": "窗口当场核对原件",
    },
    "delivery": {
        "delivery_method": "window", "delivery_recipient": "马强", "delivered_at": TODAY,
        "delivery_address": "西宁市城西区五四大街 1 号", "delivery_tracking_no": "SF1234567890", "delivery_note": "",
    },
    "deregistration-bank-account": _review("bank_account", "bank_account_closed_at", TODAY),
    "deregistration-customs": _review("customs", "customs_cancellation_no", "HG-ZX-2026-001"),
    "deregistration-housing-fund": _review("housing_fund", "housing_fund_cleared", True),
    "deregistration-intake": {
        "enterprise_name": "西宁某某餐饮有限公司", "enterprise_credit_code": "91630100MA7XXXXX1X",
        "legal_representative": "张伟", "business_address": "西宁市城中区南大街 8 号",
        "deregistration_reason": "resolution", "simplified_procedure": False,
        "liquidation_completed_at": "2026-11-20", "applicant_name": "张伟", "applicant_id_number": ID_NUMBER,
        "applicant_phone": "13900000001", "intake_decision": "accept", "intake_opinion": "材料齐全，予以受理",
    },
    "deregistration-medical-insurance": _review("medical_insurance", "medical_insurance_cleared", True),
    "deregistration-registration": _review("deregistration", "deregistration_notice_no",
                                           "（西）登记企销字〔2026〕第 101 号"),
    "deregistration-seal": _review("seal", "seal_destroyed", True),
    "deregistration-social-security": _review("social_security", "social_security_cleared", True),
    "deregistration-tax-arrears": {
        "tax_arrears_amount": 1250.5, "arrears_settled": True, "arrears_payment_receipt_no": "SK2026112800012",
        "arrears_note": "欠税已于受理当日结清",
    },
    "newborn-birth-certificate": _review("birth_certificate", "birth_certificate_no", "Q630123456"),
    "newborn-household-registration": _review("household_registration", "newborn_id_number", "630102202611200025"),
    "newborn-insurance-payment": {
        "insurance_payment_amount": 400, "insurance_payment_receipt_no": "JF2026112000031",
        "insurance_payment_confirmed": True,
    },
    "newborn-intake": {
        "applicant_name": "李娜", "applicant_id_number": "630102199001011234", "applicant_phone": "13800000000",
        "applicant_relationship": "mother", "newborn_name": "王小宝", "newborn_gender": "female",
        "newborn_birth_date": "2026-11-20", "birth_hospital": "青海省妇女儿童医院", "household_address": "西宁市城中区",
        "claim_maternity_reimbursement": False, "intake_decision": "accept", "intake_opinion": "材料齐全，予以受理",
    },
    "newborn-maternity-reimbursement": _review("maternity_reimbursement", "maternity_reimbursement_amount", 3200.75),
    "newborn-medical-insurance": _review("medical_insurance", "medical_insurance_no", "YB6301000123"),
    "newborn-social-security-card": _review("social_security_card", "social_security_card_no", "SB630100456"),
    "newborn-vaccination-certificate": _review("vaccination_certificate", "vaccination_certificate_no", "YM630100789"),
    "rejection-notice": {
        "rejection_notice_no": "（西）不予许可字〔2026〕第 7 号",
        "rejection_reason": "经营场所消防条件整改后仍不符合要求",
        "rejection_served_by": "in_person", "rejection_served_at": TODAY,
    },
    "supervision": {
        "supervision_cause": "department_delay", "supervision_measure": "reminded",
        "supervision_note": "已电话催办消防救援支队，承诺两个工作日内办结",
    },
    "restaurant-fire-document-review": {
        "fire_document_review_result": "complete", "fire_document_review_opinion": "消防设计文件、竣工验收材料齐全",
    },
    "restaurant-fire-site-check": {
        "fire_site_check_date": TODAY, "fire_site_check_inspector": "消防监督员 李明",
        "fire_site_check_findings": "疏散通道畅通，灭火器与应急照明配置符合要求",
    },
    "restaurant-fire-safety": _review("fire_safety", "fire_safety_permit_no", "西消安检字〔2026〕第 0123 号"),
    "restaurant-food-license": _review("food_license", "food_license_no", "JY16301000012345"),
    "restaurant-health-certificate": _review("health_certificate", "health_certificate_count", 6),
    "restaurant-intake": {
        "enterprise_name": "西宁味道餐饮有限公司", "enterprise_credit_code": "91630100MA7XXXXXX1",
        "legal_representative": "马强", "business_address": "西宁市城西区五四大街 1 号", "business_area": 120,
        "seat_count": 40, "signboard_text": "西宁味道", "applicant_name": "马强",
        "applicant_id_number": ID_NUMBER, "applicant_phone": "13900000000", "staff_count": 6,
        "apply_tobacco_license": False, "apply_health_certificate": False,
        "intake_decision": "accept", "intake_opinion": "材料齐全，予以受理",
    },
    "restaurant-joint-inspection": {
        "inspection_date": TODAY,
        "fire_safety_findings": "疏散通道畅通，灭火器配置符合要求", "fire_safety_inspector": "赵消防",
        "food_safety_findings": "后厨布局合理，生熟分开，设施齐全", "food_safety_inspector": "钱食安",
        "signboard_findings": "招牌尺寸与设置位置与审批一致", "signboard_inspector": "孙城管",
        "inspection_rejected": False, "inspection_issues": "",
    },
    "restaurant-license-verification": _review("license_verification", "license_verified", True),
    "restaurant-rectification": {
        "rectification_report": "已清理消防通道并增设应急照明", "rectified_at": TODAY, "rectification_abandoned": False,
    },
    "restaurant-signboard": _review("signboard", "signboard_permit_no", "西城管招字〔2026〕第 045 号"),
    "restaurant-tobacco-license": _review("tobacco_license", "tobacco_license_no", "630102202600123"),
}


# 二次录入 tasks (form key `lianban:manual-entry`) have no file in forms/: their form is built from the result
# fields of their topic in the connector file. One sample per manual topic of connectors.demo.json.
MANUAL_ENTRY_SAMPLES: dict[str, dict[str, Any]] = {
    "supervision.warning": {"warning_sms_receipt": "DX-20261130-0007", "warning_sent_on": TODAY},
}


def manual_entry_sample(topic: str, **changes: Any) -> dict[str, Any]:
    """The result a clerk records for a 二次录入 task of `topic`, with `changes`."""
    return {**MANUAL_ENTRY_SAMPLES[topic], **changes}


def sample(name: str, context: Mapping[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """The sample of form `name` with `changes`, less the fields the form hides for that data (and `context`)."""
    values = {**SAMPLES[name], **changes}
    _, hidden = visible_fields(registry.get(name), dict(context or {}), values)
    return {key: value for key, value in values.items() if key not in hidden}


def form_of(form_key: str | None) -> str | None:
    """`lianban:restaurant-intake` → `restaurant-intake`."""
    return form_key.split(":", 1)[1] if form_key and form_key.startswith("lianban:") else None


def decision(name: str, value: str, reason: str | None = None) -> dict[str, Any]:
    """A review form's sample with its decision set to `value` (approve / reject / correct)."""
    item = next(key[: -len("_decision")] for key in SAMPLES[name] if key.endswith("_decision"))
    changes: dict[str, Any] = {f"{item}_decision": value, f"{item}_opinion": reason or REASONS.get(value, "见附件")}
    return sample(name, **changes)


REASONS = {"approve": "材料齐全，符合法定条件，准予。", "accept": "材料齐全，予以受理。",
           "reject": "不符合法定条件，不予批准。", "correct": "材料不全：请补交经营场所证明。"}
