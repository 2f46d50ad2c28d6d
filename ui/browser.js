// The visitor's browser store (ui/browser.py mounts it with st.components.v2): runs in the visitor's page, not on
// the server. Writes the document it is given when it differs from the stored one, removes it on `erase`,
// answers with what the browser holds while `read` is asked, and with `listen` passes on what another tab of this
// browser stores (storage events reach only other tabs).
export default function ({ data, setStateValue }) {
  let stored = "";
  try {
    if (data.erase) localStorage.removeItem(data.key);
    else if (typeof data.save === "string" && localStorage.getItem(data.key) !== data.save)
      localStorage.setItem(data.key, data.save);
    stored = localStorage.getItem(data.key) ?? "";
  } catch (e) {
    setStateValue("failed", String(e && e.name || e));
  }
  if (data.read) setStateValue("stored", stored);
  if (data.listen) {
    window.__moodToMovieStored = setStateValue;
    if (!window.__moodToMovieListening) {
      window.__moodToMovieListening = true;
      window.addEventListener("storage", (e) => {
        if (e.key === data.key) window.__moodToMovieStored("stored", e.newValue ?? "");
      });
    }
  }
}
