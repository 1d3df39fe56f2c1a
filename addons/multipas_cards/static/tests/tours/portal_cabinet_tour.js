import { registry } from "@web/core/registry";

/**
 * The parents' cabinet walked by a guardian, at phone and at desktop width
 * (tests/test_portal_tour.py): see the children, top up with the demo
 * payment provider and see the balance change, block the card, upload a
 * photo, report a changed diet. On every page: nothing wider than the screen, every tap target at
 * least 44 px high and every input labelled.
 */

function checkLayout(page) {
    const width = window.innerWidth;
    if (document.documentElement.scrollWidth > width) {
        throw new Error(
            `${page}: the page scrolls sideways (${document.documentElement.scrollWidth}px > ${width}px)`
        );
    }
    const targets = document.querySelectorAll(
        ".o_multipas_cabinet .btn, .o_multipas_cabinet .form-control, .o_multipas_cabinet .form-select, " +
            ".o_multipas_cabinet .list-group-item-action, .o_multipas_cabinet .o_multipas_check"
    );
    for (const target of targets) {
        const box = target.getBoundingClientRect();
        if (box.width && box.height && box.height < 44) {
            throw new Error(`${page}: "${target.textContent.trim()}" is only ${box.height}px high`);
        }
        if (box.right > width + 1) {
            throw new Error(`${page}: "${target.textContent.trim()}" sticks out of the screen`);
        }
    }
    for (const input of document.querySelectorAll(".o_multipas_cabinet input:not([type=hidden]), .o_multipas_cabinet select")) {
        const labelled =
            input.labels?.length || input.getAttribute("aria-label") || input.getAttribute("aria-labelledby");
        if (!labelled) {
            throw new Error(`${page}: the input "${input.name}" has no label`);
        }
    }
}

function layoutStep(page, trigger) {
    return {
        content: `Layout of ${page}`,
        trigger,
        run() {
            checkLayout(page);
        },
    };
}

registry.category("web_tour.tours").add("multipas_portal_cabinet", {
    url: "/my",
    steps: () => [
        {
            content: "The portal home shows the child with balance and chart",
            trigger: ".o_multipas_home .o_multipas_child_card h3:contains(Mptestova Alisa)",
        },
        {
            content: "The other family's child is not there",
            trigger: ".o_multipas_home",
            run() {
                if (document.body.innerText.includes("Mptestina")) {
                    throw new Error("Another family's child is shown");
                }
            },
        },
        {
            content: "The spending chart is drawn",
            trigger: ".o_multipas_home .o_multipas_chart svg rect",
        },
        layoutStep("the portal home", ".o_multipas_home"),
        {
            content: "Open the top-up",
            trigger: ".o_multipas_home .o_multipas_topup_btn",
            run: "click",
        },
        layoutStep("the top-up form", ".o_multipas_topup_form"),
        {
            content: "Choose 500",
            trigger: "label[for=multipas_amount_500]",
            run: "click",
        },
        {
            content: "Continue to the payment",
            trigger: ".o_multipas_topup_form button[type=submit]",
            run: "click",
        },
        {
            content: "The payment form offers the demo provider",
            trigger: "#o_payment_form input[name=o_payment_radio]:checked",
        },
        layoutStep("the payment page", "#o_payment_form"),
        {
            content: "Type the (test) card details",
            trigger: "#customer_input",
            run: "edit 4242424242424242",
        },
        {
            content: "Pay",
            trigger: "button[name=o_payment_submit_button]:enabled",
            run: "click",
        },
        {
            content: "The payment is done and the new balance shown",
            trigger: ".o_multipas_topup_done[data-state=done] .o_multipas_new_balance:contains(914)",
            timeout: 30000,
        },
        layoutStep("the payment result", ".o_multipas_topup_done"),
        {
            content: "Back to the child",
            trigger: ".o_multipas_topup_done a.btn-primary",
            run: "click",
        },
        {
            content: "The child's page shows the new balance",
            trigger: ".o_multipas_balance:contains(914)",
        },
        layoutStep("the child's page", "#multipas_child_actions"),
        {
            content: "The card is lost: open the block page",
            trigger: "#multipas_child_actions .o_multipas_block_link",
            run: "click",
        },
        layoutStep("the block page", ".o_multipas_block_form"),
        {
            content: "Confirm the block",
            trigger: ".o_multipas_block_confirm",
            run: "click",
        },
        {
            content: "The card shows as blocked",
            trigger: ".o_multipas_child_card .o_multipas_blocked",
        },
        {
            content: "Open the photo page",
            trigger: "#multipas_child_actions a[href$='/photo']",
            run: "click",
        },
        layoutStep("the photo page", ".o_multipas_photo_form"),
        {
            content: "Choose a photo (a PNG drawn here)",
            trigger: "#multipas_photo",
            async run() {
                const canvas = document.createElement("canvas");
                canvas.width = 480;
                canvas.height = 640;
                const context = canvas.getContext("2d");
                context.fillStyle = "#dde7f0";
                context.fillRect(0, 0, 480, 640);
                context.fillStyle = "#e8c4a8";
                context.beginPath();
                context.arc(240, 260, 110, 0, 2 * Math.PI);
                context.fill();
                const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
                const transfer = new DataTransfer();
                transfer.items.add(new File([blob], "alisa.png", { type: "image/png" }));
                const input = document.querySelector("#multipas_photo");
                input.files = transfer.files;
                input.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: "Upload it",
            trigger: ".o_multipas_photo_submit",
            run: "click",
        },
        {
            content: "The photo waits for the school's approval",
            trigger: ".o_multipas_cabinet img.o_multipas_photo_pending",
        },
        {
            content: "The status says so",
            trigger: ".o_multipas_photo_state",
        },
        layoutStep("the photo page after the upload", ".o_multipas_photo_state"),
        {
            content: "Back to the child",
            trigger: "ol.o_portal_submenu a[href^='/my/children/']",
            run: "click",
        },
        {
            content: "The diet changed: open the change of data",
            trigger: "#multipas_child_actions .o_multipas_change_link",
            run: "click",
        },
        layoutStep("the change of data", ".o_multipas_change_form"),
        {
            content: "The form starts from the data on file",
            trigger: ".o_multipas_change_form #mp_last_name[value=Mptestova]",
        },
        {
            content: "The birth date is not on file: give it",
            trigger: ".o_multipas_change_form #mp_birth_date",
            run() {
                document.querySelector("#mp_birth_date").value = "2015-04-02";
            },
        },
        {
            content: "Write the new diet",
            trigger: ".o_multipas_change_form #mp_diet",
            run: "edit no pork",
        },
        {
            content: "Send it to the school",
            trigger: ".o_multipas_change_form button[type=submit]",
            run: "click",
        },
        {
            content: "The change is listed among the registration forms",
            trigger: ".o_multipas_registration_forms .o_multipas_change_badge",
        },
    ],
});
