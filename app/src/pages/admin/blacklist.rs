use super::{field_error, reload_on_success, AdminShell};
use crate::api::{blacklist, BlacklistAdd, BlacklistRemove, RevokeLogins};
use crate::pages::not_found::ErrorPanel;
use crate::time::format_utc;
use leptos::prelude::*;

#[component]
pub fn AdminBlacklistPage() -> impl IntoView {
    let entries = Resource::new(|| (), |_| blacklist());
    view! {
        <AdminShell title="Admin · Blacklist">
            <h1>"Blacklist"</h1>
            <BlacklistForms />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Ok(list) if list.is_empty() => view! { <p class="panel">"Nobody is blacklisted."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="orders" data-testid="blacklist">
                                <thead>
                                    <tr>
                                        <th scope="col">"User"</th>
                                        <th scope="col">"Reason"</th>
                                        <th scope="col">"Since"</th>
                                        <th scope="col">"Action"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|e| view! {
                                        <tr>
                                            <td>{e.user_name}</td>
                                            <td>{e.reason}</td>
                                            <td>{format_utc(e.created_at)}</td>
                                            <td><RemoveButton user_id=e.user_id /></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </AdminShell>
    }
}

/// "Blacklist" and "Log out everywhere".
#[island(lazy)]
fn BlacklistForms() -> impl IntoView {
    let add = ServerAction::<BlacklistAdd>::new();
    reload_on_success(add);
    let error = move || add.value().get().and_then(Result::err);
    let revoke = ServerAction::<RevokeLogins>::new();
    let revoked = move || revoke.value().get();
    view! {
        <section class="panel">
            <ActionForm action=add attr:class="stack" attr:data-testid="blacklist-form">
                <label for="user">"User name"</label>
                <input id="user" name="user" required maxlength="64" />
                <span class="field-error">{move || field_error(error(), "user")}</span>
                <label for="reason">"Reason"</label>
                <input id="reason" name="reason" required maxlength="300" />
                <span class="field-error">{move || field_error(error(), "reason")}</span>
                <button type="submit" class="button">"Blacklist"</button>
            </ActionForm>
        </section>
        <section class="panel">
            <h2>"Log out everywhere"</h2>
            <p class="muted">"Every login of this user so far stops counting (a stolen cookie, a role taken away)."</p>
            <ActionForm action=revoke attr:class="stack" attr:data-testid="revoke-form">
                <label for="revoke-user">"User name"</label>
                <input id="revoke-user" name="user" required maxlength="64" />
                <span class="field-error">
                    {move || field_error(revoked().and_then(Result::err), "user")}
                </span>
                <button type="submit" class="button">"Revoke logins"</button>
                <span class="muted" data-testid="revoked">
                    {move || revoked().is_some_and(|r| r.is_ok()).then_some("Logins revoked.")}
                </span>
            </ActionForm>
        </section>
    }
}

#[island(lazy)]
fn RemoveButton(user_id: i64) -> impl IntoView {
    let remove = ServerAction::<BlacklistRemove>::new();
    reload_on_success(remove);
    view! {
        <ActionForm action=remove attr:class="inline-form">
            <input type="hidden" name="user_id" value=user_id />
            <button type="submit" class="link-button">"Remove"</button>
        </ActionForm>
    }
}
