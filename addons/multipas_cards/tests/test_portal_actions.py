import base64
import io
import re
from datetime import datetime
from unittest.mock import patch

import openpyxl
from PIL import Image

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .portal_common import MultipasPortalCommon, make_image

ACCESS_TOKEN_RE = re.compile(r'data-access-token="([^"]+)"')


@tagged("post_install", "-at_install", "multipas_portal")
class TestPortalTopup(MultipasPortalCommon, HttpCase):
    """Top-ups through Odoo's payment providers (payment_demo here)."""

    def setUp(self):
        super().setUp()
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        self.child = self.pupil_a1
        self.base = f"/my/children/{self.child.id}"

    def _tx_count(self):
        return self.env["payment.transaction"].search_count(
            [("multipas_account_id", "=", self.account_a1.id)]
        )

    def _pay_page(self, amount="500"):
        response = self.url_open(f"{self.base}/topup/pay?amount={amount}")
        self.assertEqual(response.status_code, 200)
        return ACCESS_TOKEN_RE.search(response.text).group(1)

    def _start(self, amount=500.0, token=None, **extra):
        params = {
            "amount": amount,
            "access_token": token if token is not None else self._pay_page(),
            "provider_id": self.provider.id,
            "payment_method_id": self.payment_method.id,
            "token_id": None,
            "flow": "direct",
            "tokenization_requested": False,
            "landing_route": "https://evil.example.com/",
            "is_validation": False,
        }
        params.update(extra)
        return self._json(f"{self.base}/topup/transaction", params)

    def test_topup_page_offers_presets_and_account_number(self):
        """Test that the top-up page offers the preset amounts, the bounds
        and the account number for bank transfers."""
        page = self.url_open(f"{self.base}/topup").text
        for preset in ("300", "500", "1000", "2000"):
            self.assertIn(f'id="multipas_amount_{preset}"', page)
        self.assertIn(self.account_a1.number, page)
        self.assertIn("Another amount", page)

    def test_topup_credits_once_and_shows_new_balance(self):
        """Test that a paid top-up is credited exactly once, although the
        provider notifies twice and the status page is polled twice, and that
        the result page shows the new balance."""
        balance = self.account_a1.balance
        result = self._start()
        self.assertNotIn("error", result, result)
        reference = result["result"]["reference"]
        tx = self.env["payment.transaction"].search([("reference", "=", reference)])
        self.assertEqual(tx.multipas_account_id, self.account_a1)
        self.assertEqual(tx.partner_id, self.user_guardian_a.partner_id)
        self.assertEqual(tx.amount, 500.0)
        self.assertEqual(tx.landing_route, f"{self.base}/topup/done?tx_id={tx.id}")
        for __ in range(2):
            notified = self._json(
                "/payment/demo/simulate_payment",
                {"reference": reference, "payment_details": "4242", "simulated_state": "done"},
            )
            self.assertNotIn("error", notified, notified)
        for __ in range(2):
            polled = self._json("/payment/status/poll", {})
            self.assertEqual(polled["result"]["state"], "done", polled)
        tx.invalidate_recordset()
        tx._post_process()  # the cron's turn: still once
        page = self.url_open(polled["result"]["landing_route"])
        self.assertEqual(page.status_code, 200)
        self.env.invalidate_all()
        entries = self.env["multipas.account.entry"].search(
            [
                ("account_id", "=", self.account_a1.id),
                ("origin", "=", f"payment.transaction,{tx.id}"),
            ]
        )
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries.kind, "topup")
        self.assertEqual(entries.amount, 500.0)
        self.assertEqual(entries.idempotency_key, reference)
        self.assertEqual(tx.multipas_entry_id, entries)
        self.assertAlmostEqual(self.account_a1.balance, balance + 500.0)
        self.assertIn('data-state="done"', page.text)
        self.assertIn("914", page.text.split("o_multipas_new_balance")[1][:200])

    def test_bad_amounts_are_refused_with_a_message(self):
        """Test that negative, zero, absurd or malformed amounts get a clear
        message and start no payment."""
        before = self._tx_count()
        for raw in (
            "-100",
            "0",
            "abc",
            "1e9",
            "nan",
            "inf",
            "99",
            "15001",
            "500.555",
            "100000000000000000000",
            "5 0 0 ₽",
        ):
            response = self.url_open(f"{self.base}/topup/pay?amount=500&amount_other={raw}")
            self.assertEqual(response.status_code, 400, raw)
            self.assertIn("o_multipas_error", response.text, raw)
            self.assertNotIn('id="o_payment_form"', response.text, raw)
        response = self.url_open(f"{self.base}/topup/pay?amount=999999")
        self.assertEqual(response.status_code, 400)
        self.assertIn("A top-up is from", response.text)
        self.assertEqual(self._tx_count(), before)

    def test_decimal_comma_is_understood(self):
        """Test that 750,50 (Russian decimal comma) is a valid amount."""
        response = self.url_open(f"{self.base}/topup/pay?amount=500&amount_other=750,50")
        self.assertEqual(response.status_code, 200)
        self.assertIn('data-amount="750.5"', response.text)

    def test_forged_payment_requests_are_refused(self):
        """Test that a changed amount, a forged provider, a validation
        operation or smuggled transaction values start no payment."""
        before = self._tx_count()
        token = self._pay_page("500")
        forged = [
            (5000.0, token, {}),
            (-500.0, token, {}),
            (500.0, "forged", {}),
            (500.0, token, {"provider_id": 999999}),
            (500.0, token, {"is_validation": True}),
            (500.0, token, {"partner_id": self.user_guardian_b.partner_id.id}),
            (500.0, token, {"custom_create_values": {"amount": 1}}),
        ]
        for amount, access_token, extra in forged:
            result = self._start(amount, access_token, **extra)
            self.assertIn("error", result, (amount, extra))
        self.assertEqual(self._tx_count(), before)

    def test_closed_account_is_not_topped_up(self):
        """Test that a closed account can't be topped up online."""
        self.account_a1.sudo().write({"state": "closed"})
        response = self.url_open(f"{self.base}/topup/pay?amount=500")
        self.assertEqual(response.status_code, 400)
        self.assertIn("is closed", response.text)

    def test_payment_that_cannot_be_credited_goes_to_the_operator(self):
        """Test that a payment confirmed after its account was closed is not
        lost: the operator gets an activity, nothing is posted."""
        tx = self._tx(self.account_a1, self.user_guardian_a.partner_id, state="done")
        self.account_a1.sudo().write({"state": "closed"})
        tx._post_process()
        self.assertTrue(tx.is_post_processed)
        self.assertFalse(tx.multipas_entry_id)
        activity = self.account_a1.activity_ids.filtered(
            lambda a: (
                a.activity_type_id
                == self.env.ref("multipas_cards.mail_activity_topup_not_credited")
            )
        )
        self.assertEqual(len(activity), 1)
        self.assertIn(tx.reference, activity.note)


@tagged("post_install", "-at_install", "multipas_portal")
class TestPortalCard(MultipasPortalCommon, HttpCase):
    """Blocking a lost card and asking for a new one (§8.5)."""

    def setUp(self):
        super().setUp()
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        self.base = f"/my/children/{self.pupil_a1.id}"

    def _reserve_activities(self, holder):
        activity_type = self.env.ref("multipas_cards.mail_activity_issue_reserve_card")
        return holder.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)

    def test_block_lost_card(self):
        """Test that one confirmed action blocks the card at once and asks
        the coordinator for a reserve card."""
        page = self.url_open(f"{self.base}/block").text
        self.assertIn("MPTST-0001", page)
        self.assertIn("Block the card now", page)
        response = self._post(f"{self.base}/block", {"reason": "lost"})
        self.assertEqual(response.status_code, 303)
        self.assertIn(f"{self.base}?message=blocked", response.headers["Location"])
        self.env.invalidate_all()
        self.assertEqual(self.card_a1.state, "blocked")
        self.assertEqual(self.card_a1.block_reason, "lost")
        self.assertIn(self.user_guardian_a.partner_id.name, self.card_a1.block_note)
        activity = self._reserve_activities(self.pupil_a1)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.user_coordinator)
        # Blocking again: there is no card in use any more, nothing changes.
        response = self._post(
            f"{self.base}/block", {"reason": "lost"}, form_url=f"{self.base}/limits"
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("no card in use", response.text)
        self.assertEqual(len(self._reserve_activities(self.pupil_a1)), 1)
        page = self.url_open(f"{self.base}?message=blocked").text
        self.assertIn("o_multipas_blocked", page)

    def test_block_without_csrf_token_changes_nothing(self):
        """Test that a POST without (or with a wrong) CSRF token is refused
        with a sentence, and the card keeps working."""
        for data in ({"reason": "lost"}, {"reason": "lost", "csrf_token": "forged"}):
            response = self.url_open(f"{self.base}/block", data=data, allow_redirects=False)
            self.assertEqual(response.status_code, 400)
            self.assertIn("The page has expired", response.text)
        self.env.invalidate_all()
        self.assertEqual(self.card_a1.state, "issued")

    def test_block_with_forged_reason_changes_nothing(self):
        """Test that a reason the form doesn't offer is refused."""
        for reason in ("other", "left", ""):
            response = self._post(f"{self.base}/block", {"reason": reason})
            self.assertEqual(response.status_code, 400, reason)
            self.assertIn("lost or stolen", response.text)
        self.env.invalidate_all()
        self.assertEqual(self.card_a1.state, "issued")

    def test_request_reissue_then_coordinator_issues_it(self):
        """Test that a guardian's request shows the fee, is recorded once,
        and becomes the reissue when the coordinator hands the card over."""
        page = self.url_open(f"{self.base}/reissue").text
        self.assertIn("150", page.split("o_multipas_fee")[1][:300])
        response = self._post(f"{self.base}/reissue", {"reason": "damaged"})
        self.assertEqual(response.status_code, 303)
        self.assertIn("message=reissue", response.headers["Location"])
        Reissue = self.env["multipas.card.reissue"]
        request = Reissue.search([("holder_id", "=", self.pupil_a1.id)])
        self.assertEqual(len(request), 1)
        self.assertEqual(request.state, "requested")
        self.assertEqual(request.source, "portal")
        self.assertEqual(request.requested_by_id, self.user_guardian_a.partner_id)
        self.assertEqual(request.fee, 150.0)
        self.assertEqual(request.old_card_id, self.card_a1)
        self.assertEqual(self.card_a1.state, "issued", "a damaged card is not blocked")
        self.assertEqual(len(self._reserve_activities(self.pupil_a1)), 1)
        # A second click finds the first request.
        response = self._post(
            f"{self.base}/reissue", {"reason": "lost"}, form_url=f"{self.base}/limits"
        )
        self.assertIn("message=reissue_exists", response.headers["Location"])
        self.assertEqual(Reissue.search_count([("holder_id", "=", self.pupil_a1.id)]), 1)

        balance = self.account_a1.balance
        wizard = (
            self.env["multipas.card.reissue.wizard"]
            .with_user(self.user_coordinator)
            .with_context(default_holder_id=self.pupil_a1.id)
            .create({"new_card_id": self.reserve_a.id})
        )
        self.assertEqual(wizard.request_id, request)
        self.assertEqual(wizard.reason, "damaged")
        wizard.action_reissue()
        self.env.invalidate_all()
        self.assertEqual(Reissue.search([("holder_id", "=", self.pupil_a1.id)]), request)
        self.assertEqual(request.state, "done")
        self.assertEqual(request.new_card_id, self.reserve_a)
        self.assertEqual(self.reserve_a.state, "issued")
        self.assertEqual(self.card_a1.state, "blocked")
        self.assertAlmostEqual(self.account_a1.balance, balance - 150.0)
        self.assertFalse(self._reserve_activities(self.pupil_a1))

    def test_request_reissue_for_lost_card_blocks_it(self):
        """Test that asking for a new card because the old one is lost blocks
        the old one at once."""
        self._post(f"{self.base}/reissue", {"reason": "lost"})
        self.env.invalidate_all()
        self.assertEqual(self.card_a1.state, "blocked")
        self.assertEqual(
            self.env["multipas.card.reissue"].search([("holder_id", "=", self.pupil_a1.id)]).state,
            "requested",
        )

    def test_coordinator_cancels_request(self):
        """Test that the coordinator can close a request without a new card."""
        request, created = (
            self.env["multipas.card.reissue"]
            .with_user(self.user_guardian_a)
            ._multipas_portal_request(self.pupil_a1.with_user(self.user_guardian_a), "damaged")
        )
        self.assertTrue(created)
        request.with_user(self.user_coordinator).action_cancel_request()
        self.assertEqual(request.sudo().state, "cancelled")
        with self.assertRaises(AccessError):
            request.with_user(self.user_guardian_a).action_cancel_request()


@tagged("post_install", "-at_install", "multipas_portal")
class TestPortalPhoto(MultipasPortalCommon, HttpCase):
    """Photo upload (§8.3): checked, re-encoded, pending until approved."""

    def setUp(self):
        super().setUp()
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        self.url = f"/my/children/{self.pupil_a1.id}/photo"

    def _upload(self, name, data, mimetype="image/jpeg"):
        return self._post(self.url, {}, files={"photo": (name, data, mimetype)})

    def test_photo_is_reencoded_and_waits_for_approval(self):
        """Test that a photo with metadata is stored as a 600×800 JPEG
        without any EXIF, pending, with an activity for the coordinator."""
        exif = Image.Exif()
        exif[0x010F] = "SpyCam"  # Make
        exif[0x0112] = 6  # Orientation: rotated
        response = self._upload("photo.jpg", make_image(size=(1200, 900), exif=exif.tobytes()))
        self.assertEqual(response.status_code, 303)
        self.env.invalidate_all()
        holder = self.pupil_a1
        self.assertEqual(holder.photo_state, "pending")
        self.assertEqual(holder.photo_pending_by_id, self.user_guardian_a.partner_id)
        self.assertFalse(holder.image_1920, "the cashier's photo changes only once approved")
        stored = Image.open(io.BytesIO(base64.b64decode(holder.photo_pending)))
        self.assertEqual(stored.format, "JPEG")
        self.assertEqual(stored.size, (600, 800))
        self.assertFalse(dict(stored.getexif()))
        self.assertNotIn(b"SpyCam", base64.b64decode(holder.photo_pending))
        activity_type = self.env.ref("multipas_cards.mail_activity_photo_review")
        activity = holder.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)
        self.assertEqual(activity.user_id, self.user_coordinator)
        page = self.url_open(self.url).text
        self.assertIn("o_multipas_photo_pending", page)
        pending = self.url_open(f"{self.url}/pending")
        self.assertEqual(pending.headers["Content-Type"], "image/jpeg")

    def test_photo_activity_in_the_coordinators_language(self):
        """Test that an English-speaking parent's upload gives a Russian-speaking
        coordinator an activity in Russian."""
        self.env["res.lang"]._activate_lang("ru_RU")
        self.user_coordinator.lang = "ru_RU"
        self.assertNotEqual(self.user_guardian_a.lang, "ru_RU")
        response = self._upload("photo.jpg", make_image(size=(600, 800)))
        self.assertEqual(response.status_code, 303)
        activity_type = self.env.ref("multipas_cards.mail_activity_photo_review")
        activity = self.pupil_a1.activity_ids.filtered(
            lambda a: a.activity_type_id == activity_type
        )
        self.assertEqual(activity.user_id, self.user_coordinator)
        self.assertIn("загрузил(а) в личном кабинете новое фото", activity.note)

    def test_bad_files_are_refused_with_a_message(self):
        """Test that a non-image, a disguised file, a GIF, a 6 MB and a 50 MB
        upload are refused with a sentence and store nothing."""
        cases = [
            ("notes.jpg", b"just some text, not a photo", "not a JPEG or PNG"),
            ("fake.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 100, "be read: the file is damaged"),
            ("anim.gif", make_image("GIF"), "not a JPEG or PNG"),
            ("big.jpg", make_image() + b"\0" * (6 * 1024 * 1024), "the limit is 5 MB"),
            ("huge.jpg", make_image() + b"\0" * (50 * 1024 * 1024), "the limit is 5 MB"),
        ]
        for name, data, message in cases:
            response = self._upload(name, data)
            self.assertEqual(response.status_code, 400, name)
            self.assertIn(message, response.text, name)
        response = self._post(self.url, {})  # no file at all
        self.assertEqual(response.status_code, 400)
        self.env.invalidate_all()
        self.assertEqual(self.pupil_a1.photo_state, "none")
        self.assertFalse(self.pupil_a1.photo_pending)

    def test_png_with_transparency_is_accepted(self):
        """Test that a transparent PNG becomes a JPEG on white."""
        image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
        output = io.BytesIO()
        image.save(output, format="PNG")
        response = self._upload("photo.png", output.getvalue(), "image/png")
        self.assertEqual(response.status_code, 303)

    def test_coordinator_approves_or_rejects(self):
        """Test that approval makes the photo the cardholder's, rejection
        needs a reason, and another school's coordinator can't do either."""
        holder = self.pupil_a1.with_user(self.user_guardian_a)
        holder._multipas_portal_submit_photo(make_image())
        as_coordinator = self.pupil_a1.with_user(self.user_coordinator)
        with self.assertRaises(UserError):
            as_coordinator.action_photo_reject()  # no reason written
        as_coordinator.action_photo_approve()
        self.assertEqual(self.pupil_a1.photo_state, "approved")
        self.assertTrue(self.pupil_a1.image_1920)
        self.assertFalse(self.pupil_a1.photo_pending)
        with self.assertRaises(UserError):
            as_coordinator.action_photo_approve()  # nothing pending any more

        self.pupil_b.with_user(self.user_guardian_b)._multipas_portal_submit_photo(make_image())
        with self.assertRaises(AccessError):
            self.pupil_b.with_user(self.user_coordinator).action_photo_approve()
        with self.assertRaises(AccessError):
            self.pupil_b.with_user(self.user_guardian_b).action_photo_approve()
        self.pupil_b.photo_reject_reason = "The face is not visible"
        self.pupil_b.action_photo_reject()
        self.assertEqual(self.pupil_b.photo_state, "rejected")
        self.authenticate(self.user_guardian_b.login, self.user_guardian_b.login)
        page = self.url_open(f"/my/children/{self.pupil_b.id}/photo").text
        self.assertIn("The face is not visible", page)


@tagged("post_install", "-at_install", "multipas_portal")
class TestPortalSettings(MultipasPortalCommon, HttpCase):
    """Limits, notification preferences and consents."""

    def setUp(self):
        super().setUp()
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        self.partner = self.user_guardian_a.partner_id

    def test_limits(self):
        """Test that a guardian sets the daily limit and the alert threshold,
        decimal comma included, and bad values change nothing."""
        url = f"/my/children/{self.pupil_a1.id}/limits"
        response = self._post(url, {"daily_limit": "300", "low_balance_threshold": "150,50"})
        self.assertEqual(response.status_code, 303)
        self.env.invalidate_all()
        self.assertEqual(self.account_a1.daily_limit, 300.0)
        self.assertEqual(self.account_a1.low_balance_threshold, 150.5)
        for daily, low in (
            ("-5", "100"),
            ("abc", "100"),
            ("1e9", "100"),
            ("100001", "1"),
            ("100", ""),
            ("100", "0x10"),
        ):
            response = self._post(url, {"daily_limit": daily, "low_balance_threshold": low})
            self.assertEqual(response.status_code, 400, (daily, low))
            self.assertIn("o_multipas_error", response.text)
        self.env.invalidate_all()
        self.assertEqual(self.account_a1.daily_limit, 300.0)
        self.assertEqual(self.account_a1.low_balance_threshold, 150.5)

    def test_notifications(self):
        """Test that a guardian chooses channels and quiet hours, and that an
        unavailable or unknown channel or a bad time is refused."""
        url = "/my/notifications"
        self.assertIn("not available yet", self.url_open(url).text)
        response = self._post(url, {"channel": "email", "quiet_from": "22:00", "quiet_to": "07:30"})
        self.assertEqual(response.status_code, 303)
        self.env.invalidate_all()
        email = self.env.ref("multipas_cards.notification_channel_email")
        self.assertEqual(self.partner.multipas_notify_channel_ids, email)
        self.assertEqual(self.partner.multipas_quiet_from, 22.0)
        self.assertEqual(self.partner.multipas_quiet_to, 7.5)
        self.assertEqual(self.partner._multipas_notification_channels(), email)
        for data, message in (
            ({"channel": "sms", "quiet_from": "22:00", "quiet_to": "07:00"}, "not available"),
            ({"channel": "fax", "quiet_from": "22:00", "quiet_to": "07:00"}, "Unknown"),
            ({"channel": "email", "quiet_from": "25:00", "quiet_to": "07:00"}, "time of day"),
        ):
            response = self._post(url, data)
            self.assertEqual(response.status_code, 400, data)
            self.assertIn(message, response.text)
        self.env.invalidate_all()
        self.assertEqual(self.partner.multipas_notify_channel_ids, email)
        self.assertEqual(self.partner.multipas_quiet_to, 7.5)

    def test_sms_once_a_provider_is_configured(self):
        """Test that SMS is offered only once the operator configured a provider."""
        sms = self.env.ref("multipas_cards.notification_channel_sms")
        self.assertFalse(sms.available)
        Channel = type(self.env["multipas.notification.channel"])
        with patch.object(Channel, "_multipas_sms_available", return_value=True):
            sms.invalidate_recordset(["available"])
            self.assertTrue(sms.available)
            self.partner.with_user(self.user_guardian_a)._multipas_portal_set_preferences(
                ["sms"], "21:00", "08:00"
            )
        self.assertEqual(self.partner.multipas_notify_channel_ids, sms)

    def test_quiet_hours(self):
        """Test quiet hours over midnight in the guardian's timezone."""
        self.partner.write(
            {"tz": "Asia/Yekaterinburg", "multipas_quiet_from": 22.0, "multipas_quiet_to": 7.0}
        )
        self.assertTrue(self.partner._multipas_is_quiet_time(datetime(2026, 1, 12, 18, 0)))  # 23:00
        self.assertTrue(self.partner._multipas_is_quiet_time(datetime(2026, 1, 12, 1, 0)))  # 06:00
        self.assertFalse(self.partner._multipas_is_quiet_time(datetime(2026, 1, 12, 4, 0)))  # 09:00
        self.partner.multipas_quiet_to = 22.0
        self.assertFalse(self.partner._multipas_is_quiet_time(datetime(2026, 1, 12, 18, 0)))

    def test_guardian_changes_only_own_preferences(self):
        """Test that a guardian can't write another guardian's preferences."""
        other = self.user_guardian_b.partner_id.with_user(self.user_guardian_a)
        with self.assertRaises(AccessError):
            other._multipas_portal_set_preferences(["email"], "21:00", "08:00")
        with self.assertRaises(AccessError):
            other._multipas_withdraw_consent()

    def test_consents_and_withdrawal(self):
        """Test that the guardian sees the contract and the consent with
        dates and versions, and that withdrawing records the date and asks
        the operator's manager to act, once."""
        self.partner.write(
            {
                "multipas_contract_date": "2025-09-01",
                "multipas_contract_version": "rev. 2025-08-01",
                "multipas_consent_date": "2025-09-01",
                "multipas_consent_scope": "Names, class, photo",
            }
        )
        page = self.url_open("/my/consents").text
        self.assertIn("rev. 2025-08-01", page)
        self.assertIn("Names, class, photo", page)
        response = self._post("/my/consents", {})
        self.assertEqual(response.status_code, 400)
        self.assertIn("Tick the box", response.text)
        self.env.invalidate_all()
        self.assertFalse(self.partner.multipas_consent_withdrawn_date)
        for __ in range(2):
            # The second time the page has no form any more: a token from elsewhere.
            response = self._post("/my/consents", {"confirm": "1"}, form_url="/my/notifications")
            self.assertEqual(response.status_code, 303)
        self.env.invalidate_all()
        self.assertTrue(self.partner.multipas_consent_withdrawn_date)
        activity_type = self.env.ref("multipas_cards.mail_activity_consent_withdrawn")
        activities = self.partner.activity_ids.filtered(
            lambda a: a.activity_type_id == activity_type
        )
        self.assertEqual(len(activities), 1)
        self.assertTrue(activities.user_id.has_group("multipas_cards.group_operator_manager"))
        self.assertIn("o_multipas_withdrawn", self.url_open("/my/consents").text)


@tagged("post_install", "-at_install", "multipas_portal")
class TestPortalMovements(MultipasPortalCommon, HttpCase):
    """Movements: filters, pages, downloads, and what each guardian sees."""

    def setUp(self):
        super().setUp()
        self.base = f"/my/children/{self.pupil_a1.id}"

    def test_filters_and_pages(self):
        """Test the kind filter and the pager."""
        for n in range(25):
            self.account_a1.post(-1.0, "purchase", f"mptest-bun-{n}", note="Bun")
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        page = self.url_open(f"{self.base}/movements?period=30d&kind=purchase").text
        self.assertNotIn('data-kind="topup"', page)
        self.assertEqual(page.count('data-kind="purchase"'), 20)
        self.assertIn(f"{self.base}/movements/page/2", page)
        page2 = self.url_open(f"{self.base}/movements/page/2?period=30d&kind=purchase").text
        self.assertEqual(page2.count('data-kind="purchase"'), 6)
        tops = self.url_open(f"{self.base}/movements?period=all&kind=topup").text
        self.assertEqual(tops.count('data-kind="topup"'), 1)
        # Unknown filters fall back to the defaults rather than failing.
        self.assertEqual(self.url_open(f"{self.base}/movements?period=x&kind=y").status_code, 200)

    def test_xlsx_and_statement(self):
        """Test the Excel download and the monthly statement."""
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        response = self.url_open(f"{self.base}/movements/xlsx?period=all&kind=all")
        self.assertEqual(response.status_code, 200)
        self.assertIn("spreadsheetml", response.headers["Content-Type"])
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        self.assertEqual(sheet["A1"].value, self.pupil_a1.name)
        amounts = [row[3] for row in sheet.iter_rows(min_row=5, values_only=True)]
        self.assertEqual(sorted(amounts), [-85.5, 500.0])
        month = self.account_a1._multipas_today().strftime("%Y-%m")
        response = self.url_open(f"{self.base}/statement?month={month}")
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.account_a1.number, response.text)
        self.assertIn("Opening balance", response.text)
        # on the operator's letterhead
        self.assertIn("o_multipas_letterhead", response.text)
        self.assertIn(self.account_a1.company_id.name, response.text)
        self.assertIn("85", response.text)
        # The top-up was posted by staff, not by this guardian: no note shown.
        self.assertNotIn("Test top-up", response.text)
        for bad in ("2026-13", "x", "2999-01", "1999-12"):
            response = self.url_open(f"{self.base}/statement?month={bad}")
            self.assertEqual(response.status_code, 400, bad)
            self.assertIn("Choose a month", response.text)

    def test_each_guardian_sees_own_topups_in_detail(self):
        """Test that another guardian's top-up shows as a bare "Top-up" while
        its payer sees the payment details."""
        tx = self._tx(self.account_a1, self.user_guardian_co.partner_id, 300.0, state="done")
        tx._post_process()
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        page = self.url_open(f"{self.base}/movements?period=all&kind=topup").text
        self.assertEqual(page.count('data-kind="topup"'), 2)
        self.assertNotIn(tx.reference, page)
        statement = self.url_open(
            f"{self.base}/statement?month={self.account_a1._multipas_today():%Y-%m}"
        ).text
        self.assertNotIn(tx.reference, statement)
        self.authenticate(self.user_guardian_co.login, self.user_guardian_co.login)
        page = self.url_open(f"{self.base}/movements?period=all&kind=topup").text
        self.assertIn(tx.reference, page)
        self.assertIn("by you", page)
        # The operator's staff see everything.
        described = tx.multipas_entry_id._multipas_portal_describe()
        self.assertIn(tx.reference, described[tx.multipas_entry_id.id]["detail"])

    def test_home_card_shows_warnings_and_chart(self):
        """Test that the child's card warns about a low balance and a blocked
        card and draws 30 bars of spending, today's with the purchase."""
        self.account_a1.low_balance_threshold = 1000.0
        self.card_a1.action_block("lost")
        spending = self.account_a1._multipas_spending_by_day(30)
        self.assertEqual(len(spending), 30)
        self.assertEqual(spending[-1][1], 85.5)
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        page = self.url_open("/my").text
        self.assertIn("o_multipas_low", page)
        self.assertIn("o_multipas_blocked", page)
        self.assertEqual(page.count('class="o_multipas_bar'), 30)
