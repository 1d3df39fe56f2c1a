from odoo.tests import HttpCase, tagged

from .portal_common import MultipasPortalCommon, make_image

# Every page and download of a child in the cabinet; {id}, {month} and {tx}
# are filled in per test.
CHILD_GET_ROUTES = [
    "/my/children/{id}",
    "/my/children/{id}/movements",
    "/my/children/{id}/movements/page/2",
    "/my/children/{id}/movements?period=all&kind=topup",
    "/my/children/{id}/movements/xlsx",
    "/my/children/{id}/movements/xlsx?period=all&kind=purchase",
    "/my/children/{id}/statement?month={month}",
    "/my/children/{id}/photo/current",
    "/my/children/{id}/photo/pending",
    "/my/children/{id}/topup",
    "/my/children/{id}/topup/pay?amount=500",
    "/my/children/{id}/topup/done?tx_id={tx}",
    "/my/children/{id}/block",
    "/my/children/{id}/reissue",
    "/my/children/{id}/photo",
    "/my/children/{id}/limits",
]
# Forms that change something, with the fields a real form would send.
CHILD_POST_ROUTES = [
    ("/my/children/{id}/block", {"reason": "lost"}),
    ("/my/children/{id}/reissue", {"reason": "lost"}),
    ("/my/children/{id}/limits", {"daily_limit": "1", "low_balance_threshold": "1"}),
    ("/my/children/{id}/photo", {}),
]


@tagged("post_install", "-at_install", "multipas_portal")
class TestPortalAccess(MultipasPortalCommon, HttpCase):
    """A guardian sees only their own children: every route of the cabinet,
    asked with another family's ids, by a logged-out visitor, by a guardian
    whose child left and by staff, answers 404 (or the login page) and
    leaks nothing; a view-only guardian sees but can't change anything."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.month = cls.account_a1._multipas_today().strftime("%Y-%m")
        cls.tx_a1 = cls._tx(cls.account_a1, cls.user_guardian_a.partner_id)
        cls.tx_left = cls._tx(cls.account_left, cls.user_guardian_left.partner_id)

    def _urls(self, child, tx):
        return [url.format(id=child.id, month=self.month, tx=tx.id) for url in CHILD_GET_ROUTES]

    def _state_of(self, child):
        """Everything a forged request could change on ``child``."""
        self.env.invalidate_all()
        account = child.account_id
        return (
            tuple(child.card_ids.mapped("state")),
            account.daily_limit,
            account.low_balance_threshold,
            account.balance,
            child.photo_state,
            bool(child.photo_pending),
            self.env["multipas.card.reissue"].search_count([("holder_id", "=", child.id)]),
            self.env["payment.transaction"].search_count(
                [("multipas_account_id", "=", account.id)]
            ),
        )

    def _assert_refused(self, child, tx, secrets, expect_login=False):
        """Every GET, POST and the payment route refuse ``child``."""
        before = self._state_of(child)
        for url in self._urls(child, tx):
            response = self.url_open(url, allow_redirects=False)
            if expect_login:
                self.assertIn(response.status_code, (302, 303), url)
                self.assertIn("/web/login", response.headers.get("Location", ""), url)
            else:
                self.assertEqual(response.status_code, 404, url)
            for secret in secrets:
                self.assertNotIn(secret, response.text, f"{url} leaks {secret}")
        # Posting needs no CSRF token to get refused: the child check comes first.
        photo = {"photo": ("photo.jpg", make_image(), "image/jpeg")}
        for url, data in CHILD_POST_ROUTES:
            url = url.format(id=child.id)
            files = photo if url.endswith("/photo") else None
            response = self.url_open(
                url, data=dict(data, csrf_token="x"), files=files, allow_redirects=False
            )
            if expect_login:
                self.assertIn(response.status_code, (302, 303), url)
                self.assertIn("/web/login", response.headers.get("Location", ""), url)
            else:
                self.assertEqual(response.status_code, 404, url)
            for secret in secrets:
                self.assertNotIn(secret, response.text, f"{url} leaks {secret}")
        result = self._json(
            f"/my/children/{child.id}/topup/transaction",
            {"amount": 500, "access_token": "x", "provider_id": self.provider.id, "flow": "direct"},
        )
        self.assertIn("error", result)
        for secret in secrets:
            self.assertNotIn(secret, str(result))
        self.assertEqual(self._state_of(child), before, "a refused request changed something")

    # === POSITIVE CONTROL === #

    def test_guardian_reaches_every_route_of_own_child(self):
        """Test that the guardian gets every page and download of their own
        child (so the refusals below are refusals, not broken routes)."""
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        for url in self._urls(self.pupil_a1, self.tx_a1):
            response = self.url_open(url, allow_redirects=False)
            self.assertEqual(response.status_code, 200, url)
        page = self.url_open(f"/my/children/{self.pupil_a1.id}").text
        self.assertIn("Mptestova Alisa", page)
        self.assertIn(self.account_a1.number, page)

    # === REFUSALS === #

    def test_other_family_gets_404_everywhere(self):
        """Test that another family's guardian gets a bare 404 on every route
        of a child that isn't theirs, and that nothing changes."""
        self.authenticate(self.user_guardian_b.login, self.user_guardian_b.login)
        self._assert_refused(
            self.pupil_a1, self.tx_a1, ["Mptestova", self.account_a1.number, "MPTST-0001"]
        )

    def test_guardian_of_child_who_left_gets_404(self):
        """Test that a guardian whose child left school sees nothing of that
        child any more."""
        self.authenticate(self.user_guardian_left.login, self.user_guardian_left.login)
        self._assert_refused(
            self.pupil_left, self.tx_left, ["Mptestleft", self.account_left.number]
        )
        self.assertNotIn("Mptestleft", self.url_open("/my").text)
        self.assertNotIn("Mptestleft", self.url_open("/my/children").text)

    def test_logged_out_visitor_is_sent_to_login(self):
        """Test that without a session every route sends to the login page
        and the payment route refuses."""
        self.authenticate(None, None)
        self._assert_refused(
            self.pupil_a1, self.tx_a1, ["Mptestova", self.account_a1.number], expect_login=True
        )
        for url in ("/my/children", "/my/notifications", "/my/consents"):
            response = self.url_open(url, allow_redirects=False)
            self.assertIn("/web/login", response.headers.get("Location", ""), url)

    def test_staff_are_not_guardians(self):
        """Test that school staff who may read the child in the backend get
        no cabinet page of it."""
        self.authenticate(self.user_coordinator.login, self.user_coordinator.login)
        self._assert_refused(self.pupil_a1, self.tx_a1, [self.account_a1.number])

    def test_unknown_child_id_is_404(self):
        """Test that an id that doesn't exist answers like another family's."""
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        for url in ("/my/children/999999999", "/my/children/999999999/movements/xlsx"):
            self.assertEqual(self.url_open(url).status_code, 404, url)

    def test_lists_show_only_own_children(self):
        """Test that the portal home and the children page list the
        guardian's own children only."""
        self.authenticate(self.user_guardian_b.login, self.user_guardian_b.login)
        for url in ("/my", "/my/children"):
            page = self.url_open(url).text
            self.assertIn("Mptestina Vera", page, url)
            self.assertNotIn("Mptestova", page, url)
            self.assertNotIn("Mptestleft", page, url)

    def test_payment_result_of_someone_else_is_404(self):
        """Test that a guardian can't open the result page of a payment made
        by another guardian of the same child."""
        tx_co = self._tx(self.account_a1, self.user_guardian_co.partner_id)
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        response = self.url_open(f"/my/children/{self.pupil_a1.id}/topup/done?tx_id={tx_co.id}")
        self.assertEqual(response.status_code, 404)
        response = self.url_open(f"/my/children/{self.pupil_a1.id}/topup/done?tx_id=abc")
        self.assertEqual(response.status_code, 404)

    def test_report_urls_refuse_child_who_left(self):
        """Test that Odoo's generic report URL gives no statement of a child
        who left, nor of another family's child."""
        self.authenticate(self.user_guardian_left.login, self.user_guardian_left.login)
        for converter in ("pdf", "html"):
            url = (
                f"/report/{converter}/multipas_cards.report_account_statement/"
                f"{self.account_left.id}"
            )
            response = self.url_open(url)
            self.assertNotEqual(response.status_code, 200, url)
            self.assertNotIn("Mptestleft", response.text)
        self.authenticate(self.user_guardian_b.login, self.user_guardian_b.login)
        url = f"/report/html/multipas_cards.report_account_statement/{self.account_a1.id}"
        response = self.url_open(url)
        self.assertNotEqual(response.status_code, 200)
        self.assertNotIn("Mptestova", response.text)

    # === VIEW ONLY === #

    def test_view_only_guardian_sees_but_cannot_act(self):
        """Test that a view-only guardian sees the child and the movements
        but gets 403 on every change, which then doesn't happen."""
        self.authenticate(self.user_guardian_view.login, self.user_guardian_view.login)
        child = self.pupil_a1
        page = self.url_open(f"/my/children/{child.id}").text
        self.assertIn("Mptestova Alisa", page)
        self.assertNotIn(f"/my/children/{child.id}/topup", page)
        self.assertNotIn(f"/my/children/{child.id}/block", page)
        self.assertEqual(self.url_open(f"/my/children/{child.id}/movements").status_code, 200)
        for url in (f"/my/children/{child.id}/topup", f"/my/children/{child.id}/block"):
            response = self.url_open(url)
            self.assertEqual(response.status_code, 403, url)
            self.assertIn("view only", response.text)
        before = self._state_of(child)
        photo = {"photo": ("photo.jpg", make_image(), "image/jpeg")}
        for url, data in CHILD_POST_ROUTES:
            url = url.format(id=child.id)
            response = self._post(
                url,
                data,
                files=photo if url.endswith("/photo") else None,
                form_url=f"/my/children/{child.id}/limits",
            )
            self.assertEqual(response.status_code, 403, url)
        result = self._json(
            f"/my/children/{child.id}/topup/transaction",
            {"amount": 500, "access_token": "x", "provider_id": self.provider.id, "flow": "direct"},
        )
        self.assertIn("view only", result["error"]["data"]["message"])
        self.assertEqual(self._state_of(child), before)
