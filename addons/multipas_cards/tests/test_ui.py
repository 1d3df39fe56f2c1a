import json

from odoo.tests import HttpCase, tagged

from .common import MultipasCommon

CLICKBOT_JS = (
    "odoo.loader.modules.get('@web/webclient/clickbot/clickbot_loader')"
    ".startClickEverywhere('multipas_cards.menu_root');"
)
CLICKBOT_SUCCESS = "clickbot test succeeded"

# Opens form views one after the other in the running web client, clicks the
# stat buttons and wizard buttons asked for, and fails (console.error) on an
# error dialog, a failed RPC or a view that doesn't appear within 20 seconds.
FORMS_JS = """
(async function () {
    const steps = %(steps)s;
    const env = odoo.__WOWL_DEBUG__.root.env;
    const { rpcBus } = odoo.loader.modules.get("@web/core/network/rpc");
    const pending = new Set();
    let rpcError = null;
    rpcBus.addEventListener("RPC:REQUEST", ({ detail }) => pending.add(detail.data.id));
    rpcBus.addEventListener("RPC:RESPONSE", ({ detail }) => {
        pending.delete(detail.data.id);
        if (detail.error) {
            rpcError = detail.error;
        }
    });
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    function check(what) {
        const dialog = document.querySelector(".o_error_dialog");
        if (dialog || rpcError) {
            const detail = rpcError ? JSON.stringify(rpcError.data || rpcError.message || rpcError) : "";
            throw new Error(`${what}: ${dialog ? dialog.innerText : ""} ${detail}`);
        }
    }
    async function waitFor(predicate, what) {
        let quiet = 0;
        for (let i = 0; i < 400; i++) {
            check(what);
            if (predicate() && pending.size === 0) {
                if (++quiet >= 4) {
                    check(what);
                    return;
                }
            } else {
                quiet = 0;
            }
            await sleep(50);
        }
        throw new Error(`Timeout: ${what}`);
    }
    const controller = () => document.querySelector(".o_action_manager > .o_action");
    async function openForm(step) {
        const before = controller();
        await env.services.action.doAction(
            {
                type: "ir.actions.act_window",
                res_model: step.model,
                res_id: step.id,
                views: [[step.view || false, "form"]],
                target: "current",
            },
            { clearBreadcrumbs: true }
        );
        await waitFor(
            () => controller() !== before && document.querySelector(".o_action_manager .o_form_view .o_form_renderer"),
            `form of ${step.model} ${step.id}`
        );
    }
    for (const step of steps) {
        console.log(`Opening the form of ${step.model} ${step.id}`);
        await openForm(step);
        for (const name of step.stat || []) {
            const button = document.querySelector(`.o_action_manager .o_form_view button.oe_stat_button[name="${name}"]`);
            if (!button) {
                throw new Error(`No stat button ${name} on ${step.model} ${step.id}`);
            }
            console.log(`Clicking the stat button ${name}`);
            const before = controller();
            button.click();
            await waitFor(
                () => controller() !== before && document.querySelector(".o_action_manager .o_view_controller"),
                `stat button ${name} of ${step.model} ${step.id}`
            );
            await openForm(step);
        }
        for (const name of step.wizards || []) {
            const button = document.querySelector(`.o_action_manager .o_form_view .o_form_statusbar button[name="${name}"]`);
            if (!button) {
                throw new Error(`No button ${name} on ${step.model} ${step.id}`);
            }
            console.log(`Clicking the wizard button ${name}`);
            button.click();
            await waitFor(
                () => document.querySelector(".o_dialog .o_form_view .o_form_renderer"),
                `wizard ${name} of ${step.model} ${step.id}`
            );
            document.querySelector(".o_dialog .btn-close").click();
            await waitFor(() => !document.querySelector(".o_dialog"), `closing wizard ${name}`);
        }
    }
    console.log("test successful");
})().catch((error) => console.error(`Multipas form check failed: ${error && error.stack || error}`));
"""

MENUS_ALL = {
    "menu_root",
    "menu_people",
    "menu_cardholder",
    "menu_class",
    "menu_guardian",
    "menu_cards",
    "menu_card",
    "menu_card_reissue",
    "menu_money",
    "menu_account",
    "menu_account_entry",
    "menu_account_entry_analysis",
    "menu_config",
    "menu_school",
    "menu_benefit_category",
    "menu_tariff",
    "menu_registration_form",
    "menu_registration_package",
    "menu_card_batch",
    "menu_card_stock",
    "menu_school_reserve",
    # Parents' cabinet
    "menu_cardholder_photo_review",
    "menu_device",
    "menu_device_event",
}
MENUS_SCHOOL_STAFF = MENUS_ALL - {
    "menu_config",
    "menu_school",
    "menu_benefit_category",
    "menu_tariff",
    "menu_device",
    "menu_device_event",
}
MENUS_PEOPLE_ONLY = {"menu_root", "menu_people", "menu_cardholder", "menu_class"}
# Leaving (issue #4, part 8–9): coordinators report leavers; the roll-over
# and the erasure log are the operator manager's.
MENUS_ALL |= {"menu_leaving", "menu_rollover", "menu_erasure_log"}
MENUS_SCHOOL_STAFF = (MENUS_SCHOOL_STAFF | {"menu_leaving"}) - {"menu_rollover", "menu_erasure_log"}


class BrowserFormsMixin:
    """Opens records' forms in Chromium as a given user, with the stat buttons
    and wizards named per record; shared by the UI tests of every feature."""

    def _open_forms(self, user, steps):
        steps = [
            {
                "model": record._name,
                "id": record.id,
                "stat": list(options.get("stat", [])),
                "wizards": list(options.get("wizards", [])),
                "view": options.get("view") and self.env.ref(options["view"]).id,
            }
            for record, options in steps
        ]
        self.browser_js(
            "/odoo",
            FORMS_JS % {"steps": json.dumps(steps)},
            "odoo.isReady === true",
            login=user.login,
            timeout=180,
        )


@tagged("post_install", "-at_install", "multipas_ui")
class TestMultipasUi(BrowserFormsMixin, MultipasCommon, HttpCase):
    """Every view of the addon opened in a real browser, role by role: the
    click-everywhere bot walks the role's menus (each view type of each
    action, each filter), then the forms and wizards it can't reach are
    opened one by one."""

    def _assert_menus(self, user, expected):
        menus = self.env["ir.ui.menu"].with_user(user).load_menus(False)
        visible = {
            menu["xmlid"].split(".", 1)[1]
            for menu in menus.values()
            if isinstance(menu, dict) and (menu.get("xmlid") or "").startswith("multipas_cards.")
        }
        self.assertEqual(visible, expected, f"menus of {user.login}")
        # the web client opens the first app: Multipas, not Discuss
        first_app = menus[menus["root"]["children"][0]]
        self.assertEqual(first_app["xmlid"], "multipas_cards.menu_root", f"{user.login} lands on")

    def _click_everywhere(self, user):
        self.browser_js(
            "/odoo",
            CLICKBOT_JS,
            "odoo.isReady === true",
            login=user.login,
            timeout=240,
            success_signal=CLICKBOT_SUCCESS,
        )

    # === CLICK EVERYWHERE === #

    def test_click_everywhere_operator_manager(self):
        """Test that every menu, view and filter of Multipas loads for an operator manager."""
        self._assert_menus(self.user_manager, MENUS_ALL)
        self._click_everywhere(self.user_manager)

    def test_click_everywhere_coordinator(self):
        """Test that every menu, view and filter a coordinator has loads for them."""
        self._assert_menus(self.user_coordinator, MENUS_SCHOOL_STAFF)
        self._click_everywhere(self.user_coordinator)

    def test_click_everywhere_class_teacher(self):
        """Test that every menu, view and filter a class teacher has loads for them."""
        self._assert_menus(self.user_teacher, MENUS_PEOPLE_ONLY)
        self._click_everywhere(self.user_teacher)

    def test_click_everywhere_cashier(self):
        """Test that every menu, view and filter a cashier has loads for them."""
        self._assert_menus(self.user_cashier, MENUS_PEOPLE_ONLY)
        self._click_everywhere(self.user_cashier)

    # === FORMS AND WIZARDS === #

    def test_forms_operator_manager(self):
        """Test that every form of Multipas, its stat buttons and both wizards
        load for an operator manager."""
        self._open_forms(
            self.user_manager,
            [
                (
                    self.school_a,
                    {
                        "stat": [
                            "action_open_classes",
                            "action_open_cardholders",
                            "action_open_cards",
                        ]
                    },
                ),
                (self.class_a1, {"stat": ["action_open_pupils"]}),
                (self.pupil_a1, {"stat": ["action_open_account"]}),
                (self.card_a1, {"wizards": ["action_open_block_wizard"]}),
                (
                    self.account_a1,
                    {"stat": ["action_open_entries"], "wizards": ["action_open_post_wizard"]},
                ),
                (self.entry_a1, {}),
                (self.user_guardian_a.partner_id, {"stat": ["action_open_multipas_children"]}),
            ],
        )

    def test_forms_coordinator(self):
        """Test that the forms a coordinator reaches, and the card block wizard, load for them."""
        self._open_forms(
            self.user_coordinator,
            [
                (
                    self.school_a,
                    {
                        "stat": [
                            "action_open_classes",
                            "action_open_cardholders",
                            "action_open_cards",
                        ]
                    },
                ),
                (self.class_a2, {"stat": ["action_open_pupils"]}),
                (
                    self.pupil_a1,
                    {"stat": ["action_open_account"], "wizards": ["action_open_reissue_wizard"]},
                ),
                (self.card_a1, {"wizards": ["action_open_block_wizard"]}),
                (self.reserve_a, {}),
                (self.account_a1, {"stat": ["action_open_entries"]}),
                (self.entry_a1_purchase, {}),
                (self.user_guardian_a.partner_id, {"stat": ["action_open_multipas_children"]}),
            ],
        )

    def test_forms_class_teacher(self):
        """Test that the forms a class teacher reaches load for them."""
        self._open_forms(
            self.user_teacher,
            [
                (self.school_a, {"stat": ["action_open_classes", "action_open_cardholders"]}),
                (self.class_a1, {"stat": ["action_open_pupils"]}),
                (self.pupil_a1, {}),
                (self.card_a1, {}),
            ],
        )

    def test_forms_cashier(self):
        """Test that the forms a cashier reaches load for them."""
        self._open_forms(
            self.user_cashier,
            [
                (
                    self.school_a,
                    {
                        "stat": [
                            "action_open_classes",
                            "action_open_cardholders",
                            "action_open_cards",
                        ]
                    },
                ),
                (self.class_a1, {"stat": ["action_open_pupils"]}),
                (self.pupil_a1, {}),
                (self.card_a1, {}),
            ],
        )

    def test_balance_button_class_teacher(self):
        """Test that a class teacher can follow a pupil's balance button to
        the personal account form."""
        self._open_forms(self.user_teacher, [(self.pupil_a1, {"stat": ["action_open_account"]})])

    def test_balance_button_cashier(self):
        """Test that a cashier can follow a pupil's balance button to the
        personal account form."""
        self._open_forms(self.user_cashier, [(self.pupil_a1, {"stat": ["action_open_account"]})])

    def test_guardian_form_coordinator(self):
        """Test that a coordinator can open the contact form (inherited by this
        addon) of a guardian of their school."""
        self._open_forms(
            self.user_coordinator,
            [(self.user_guardian_a.partner_id, {"view": "base.view_partner_form"})],
        )

    def test_user_form_admin(self):
        """Test that the user form with the Multipas page loads for the administrator."""
        self.assertTrue(
            self.env.ref("base.user_admin").has_group("multipas_cards.group_operator_manager")
        )
        admin = self.env.ref("base.user_admin")
        if "tour_enabled" in admin._fields:
            admin.tour_enabled = False
        self._open_forms(admin, [(self.user_coordinator, {"view": "base.view_users_form"})])
