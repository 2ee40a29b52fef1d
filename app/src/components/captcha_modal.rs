//! The captcha dialog: image, answer box, refresh link. Keeps focus inside while open and
//! closes on Escape.

use crate::model::Captcha;
use leptos::ev::KeyboardEvent;
use leptos::html;
use leptos::prelude::*;

#[component]
pub fn CaptchaModal(
    captcha: RwSignal<Option<Captcha>>,
    error: RwSignal<Option<String>>,
    busy: Signal<bool>,
    on_refresh: Callback<()>,
    on_submit: Callback<String>,
    on_close: Callback<()>,
) -> impl IntoView {
    let answer = RwSignal::new(String::new());
    let input_ref = NodeRef::<html::Input>::new();
    let refresh_ref = NodeRef::<html::Button>::new();
    let close_ref = NodeRef::<html::Button>::new();

    // Each new captcha wants a fresh answer and the focus back in the box.
    Effect::new(move |_| {
        captcha.track();
        answer.set(String::new());
        if let Some(input) = input_ref.get() {
            let _ = input.focus();
        }
    });

    let on_keydown = move |ev: KeyboardEvent| match ev.key().as_str() {
        "Escape" => on_close.run(()),
        "Tab" => {
            // Keep the focus inside: wrap between the first ("New captcha") and the last
            // ("Cancel") focusable element.
            let active = document().active_element();
            let (first, last) = (refresh_ref.get(), close_ref.get());
            if let (Some(first), Some(last)) = (first, last) {
                let first_el: &leptos::web_sys::Element = first.as_ref();
                let last_el: &leptos::web_sys::Element = last.as_ref();
                if ev.shift_key() && active.as_ref() == Some(first_el) {
                    ev.prevent_default();
                    let _ = last.focus();
                } else if !ev.shift_key() && active.as_ref() == Some(last_el) {
                    ev.prevent_default();
                    let _ = first.focus();
                }
            }
        }
        _ => {}
    };

    view! {
        <div class="modal-backdrop">
            <div
                class="modal"
                role="dialog"
                aria-modal="true"
                aria-labelledby="captcha-title"
                on:keydown=on_keydown
            >
                <h2 id="captcha-title">"Prove you are human"</h2>
                <form on:submit=move |ev| {
                    ev.prevent_default();
                    on_submit.run(answer.get_untracked());
                }>
                    <div class="captcha-image">
                        {move || match captcha.get() {
                            Some(c) => {
                                view! {
                                    <img
                                        src=c.image
                                        alt="Captcha: type the characters you see"
                                        data-testid="captcha-image"
                                        data-captcha-id=c.captcha_id
                                    />
                                }
                                    .into_any()
                            }
                            None => view! { <p class="muted">"Loading captcha…"</p> }.into_any(),
                        }}
                    </div>
                    <button
                        type="button"
                        class="link-button"
                        node_ref=refresh_ref
                        on:click=move |_| on_refresh.run(())
                    >
                        "New captcha"
                    </button>
                    <label for="captcha-answer">"Characters in the image"</label>
                    <input
                        id="captcha-answer"
                        name="answer"
                        autocomplete="off"
                        autocapitalize="off"
                        spellcheck="false"
                        maxlength="16"
                        required
                        node_ref=input_ref
                        prop:value=move || answer.get()
                        on:input=move |ev| answer.set(event_target_value(&ev))
                    />
                    {move || {
                        error
                            .get()
                            .map(|e| {
                                view! {
                                    <p class="alert alert-error" role="alert" data-testid="captcha-error">
                                        {e}
                                    </p>
                                }
                            })
                    }}
                    <div class="modal-actions">
                        <button type="submit" class="button" disabled=move || busy.get()>
                            "Confirm purchase"
                        </button>
                        <button
                            type="button"
                            class="button button-secondary"
                            node_ref=close_ref
                            on:click=move |_| on_close.run(())
                        >
                            "Cancel"
                        </button>
                    </div>
                </form>
            </div>
        </div>
    }
}
