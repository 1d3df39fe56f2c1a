import re

from odoo.tests import HttpCase, tagged

from .registration_common import RegistrationCommon

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@tagged("post_install", "-at_install", "multipas_registration", "multipas_portal")
class TestRegistrationPortalPages(RegistrationCommon, HttpCase):
    """/my/registration through HTTP, as the parents use it."""

    def _page(self, url):
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200, url)
        return response.text

    def _post_data(self, page, **values):
        data = {
            "csrf_token": CSRF_RE.search(page).group(1),
            "school_id": str(self.school_a.id),
            "last_name": "Mpwebova",
            "first_name": "Lena",
            "patronymic": "",
            "birth_date": "2016-07-01",
            "class_grade": "4",
            "class_letter": "A",
            "benefit_category_id": "",
            "allergies": "milk",
            "diet": "",
            "g_last_name": "Mpwebova",
            "g_first_name": "Tanya",
            "g_patronymic": "",
            "g_relation": "mother",
            "g_phone": "+7 912 765-43-21",
            "g_email": "",
            "accept_contract": "on",
            "accept_consent": "on",
        }
        data.update(values)
        return {key: value for key, value in data.items() if value is not None}

    def _assert_inputs_labelled(self, page, form_class):
        """Every input, select and textarea of the form has a label."""
        form_html = page[page.index(f'class="{form_class}"') :]
        ids = set(re.findall(r'<(?:input|select|textarea)[^>]* id="(mp_[a-z_]+)"', form_html))
        labels = set(re.findall(r'<label[^>]* for="(mp_[a-z_]+)"', form_html))
        self.assertTrue(ids)
        self.assertEqual(ids - labels, set())

    def _mine(self, user):
        return self.Form.sudo().search([("submitter_partner_id", "=", user.partner_id.id)])

    def test_home_has_the_entry(self):
        """Test that the portal home links to the registration forms."""
        self.authenticate(self.user_portal.login, self.user_portal.login)
        self.assertIn('href="/my/registration"', self._page("/my"))

    def test_form_page_is_prefilled_and_labelled(self):
        """Test that the form page carries a CSRF token, the guardian's own
        data, and a label for every input."""
        self.user_portal.partner_id.write({"name": "Mpwebova Tanya Ivanovna", "phone": "+7 900"})
        self.authenticate(self.user_portal.login, self.user_portal.login)
        page = self._page("/my/registration/new")
        self.assertRegex(page, CSRF_RE)
        self.assertIn('value="Mpwebova"', page)
        self.assertIn('value="Ivanovna"', page)
        self._assert_inputs_labelled(page, "o_multipas_registration_form")

    def test_post_files_the_form_and_lists_it(self):
        """Test that a valid post files the form, redirects to the list which
        shows it with its state, and that nobody else sees it there."""
        self.authenticate(self.user_portal.login, self.user_portal.login)
        page = self._page("/my/registration/new")
        response = self.url_open(
            "/my/registration/new", data=self._post_data(page), allow_redirects=False
        )
        self.assertEqual(response.status_code, 303)
        form = self._mine(self.user_portal)
        self.assertEqual(len(form), 1)
        self.assertIn(f"/my/registration?submitted={form.id}", response.headers["Location"])
        listing = self._page(f"/my/registration?submitted={form.id}")
        self.assertIn(form.name, listing)
        self.assertIn("Mpwebova Lena", listing)
        self.assertIn("At the school", listing)
        self.authenticate(self.user_guardian_b.login, self.user_guardian_b.login)
        other = self._page(f"/my/registration?submitted={form.id}")
        self.assertNotIn(form.name, other)
        self.assertNotIn("Mpwebova", other)

    def test_invalid_post_shows_errors_and_keeps_values(self):
        """Test that a post without consent is re-rendered with the message and
        the typed values, and files nothing."""
        self.authenticate(self.user_portal.login, self.user_portal.login)
        page = self._page("/my/registration/new")
        response = self.url_open(
            "/my/registration/new",
            data=self._post_data(page, accept_consent=None, g_email="bad@"),
        )
        self.assertEqual(response.status_code, 200)
        self.assertIn("no card can be made", response.text)
        self.assertIn("This is not an email address.", response.text)
        self.assertIn('value="Mpwebova"', response.text)
        self.assertIn("is-invalid", response.text)
        self.assertFalse(self._mine(self.user_portal))

    def test_post_without_csrf_is_refused(self):
        """Test that a post without the CSRF token files nothing."""
        self.authenticate(self.user_portal.login, self.user_portal.login)
        page = self._page("/my/registration/new")
        data = self._post_data(page)
        data.pop("csrf_token")
        response = self.url_open("/my/registration/new", data=data)
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self._mine(self.user_portal))

    def test_returned_form_shows_the_reason(self):
        """Test that the parent reads why their form was returned."""
        form, _errors = self.Form.with_user(self.user_portal)._portal_submit(
            self.user_portal.partner_id,
            {
                "school_id": str(self.school_a.id),
                "last_name": "Mpwebov",
                "first_name": "Yan",
                "birth_date": "2015-01-01",
                "class_grade": "5",
                "class_letter": "A",
                "g_last_name": "Mpwebov",
                "g_first_name": "Ilya",
                "g_relation": "father",
                "g_phone": "+7 912 765-43-22",
                "accept_contract": "on",
                "accept_consent": "on",
            },
        )
        # the parent is told by mail, in their own language
        submitter = self.user_portal.partner_id
        self.env["res.lang"]._activate_lang("ru_RU")
        submitter.lang = "ru_RU"
        form.with_env(self.env).with_user(self.user_coordinator)._return(
            "The school has no class 5A this year."
        )
        submitter.lang = "en_US"
        message = form.with_env(self.env).message_ids.filtered(
            lambda msg: submitter in msg.partner_ids
        )
        self.assertEqual(len(message), 1)
        self.assertIn("The school has no class 5A this year.", message.body)
        self.assertIn("Ваша анкета", message.body)
        notification = self.env["mail.notification"].search(
            [("mail_message_id", "=", message.id), ("res_partner_id", "=", submitter.id)]
        )
        self.assertEqual(notification.notification_type, "email")
        self.authenticate(self.user_portal.login, self.user_portal.login)
        listing = self._page("/my/registration")
        self.assertIn("Returned", listing)
        self.assertIn("The school has no class 5A this year.", listing)

    def test_anonymous_visitor_is_sent_to_login(self):
        """Test that the pages need a login."""
        response = self.url_open("/my/registration", allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])

    def _change_data(self, page, **values):
        data = self.Form._portal_change_defaults(self.pupil_a1)
        data.update(values, csrf_token=CSRF_RE.search(page).group(1))
        return {key: value for key, value in data.items() if value is not None}

    def _changes_of_a1(self):
        return self.Form.sudo().search([("target_cardholder_id", "=", self.pupil_a1.id)])

    def test_change_of_data_from_the_childs_page(self):
        """Test that a guardian reaches the change form from the child's page,
        finds it filled in with the data on file and every input labelled; a
        wrong post comes back with the errors (400) and files nothing, a right
        one files the change and lists it among their forms."""
        self.user_guardian_a.partner_id.multipas_consent_date = self.form_day
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        child_url = f"/my/children/{self.pupil_a1.id}"
        self.assertIn(f'href="{child_url}/change"', self._page(child_url))
        page = self._page(f"{child_url}/change")
        self.assertIn(f'value="{self.pupil_a1.last_name}"', page)
        self.assertIn('value="2015-04-02"', page)
        self._assert_inputs_labelled(page, "o_multipas_change_form")

        response = self.url_open(
            f"{child_url}/change", data=self._change_data(page, first_name="", diet="no pork")
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("Enter the child&#39;s first name.", response.text)
        self.assertIn("no pork", response.text)
        self.assertFalse(self._changes_of_a1())

        response = self.url_open(
            f"{child_url}/change",
            data=self._change_data(page, diet="no pork"),
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 303)
        form = self._changes_of_a1()
        self.assertEqual(len(form), 1)
        self.assertEqual(form.changed_fields, "diet")
        self.assertIn(f"/my/registration?submitted={form.id}", response.headers["Location"])
        listing = self._page(f"/my/registration?submitted={form.id}")
        self.assertIn(form.name, listing)
        self.assertIn("change of data", listing)
        # a second one waits for the first: the page says so
        self.assertIn("on its way already", self._page(f"{child_url}/change"))

    def test_change_of_data_is_closed_to_others(self):
        """Test that another family's parent gets a plain 404 for the page and
        the post, a post without the CSRF token is refused, and nothing is filed."""
        url = f"/my/children/{self.pupil_a1.id}/change"
        self.authenticate(self.user_guardian_b.login, self.user_guardian_b.login)
        self.assertEqual(self.url_open(url).status_code, 404)
        own = self._page(f"/my/children/{self.pupil_b.id}/change")
        response = self.url_open(url, data=self._change_data(own, diet="no pork"))
        self.assertEqual(response.status_code, 404)
        self.authenticate(self.user_guardian_a.login, self.user_guardian_a.login)
        page = self._page(url)
        data = self._change_data(page, diet="no pork")
        data.pop("csrf_token")
        self.assertEqual(self.url_open(url, data=data).status_code, 400)
        self.assertFalse(self._changes_of_a1())
