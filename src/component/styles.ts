/** Shadow DOM styles of `<msn-chat>` (adopted as a constructable stylesheet: no inline style, CSP-safe). */
export const MSN_CHAT_CSS = `
:host { display: block; font-family: system-ui, sans-serif; color: inherit; --msn-accent: #1d4ed8; --msn-border: #8886; }
:host([hidden]) { display: none; }
.box { border: 1px solid var(--msn-border); border-radius: .5rem; padding: .75rem; display: grid; gap: .5rem; }
.head { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; font-size: .9em; }
.model { font-weight: 600; overflow-wrap: anywhere; }
progress { width: 100%; }
.progress-text, .stats { font-size: .85em; opacity: .85; overflow-wrap: anywhere; }
label { font-weight: 600; }
textarea { width: 100%; box-sizing: border-box; min-height: 4.5rem; font: .95em ui-monospace, monospace; padding: .4rem; }
.row { display: flex; gap: .5rem; flex-wrap: wrap; }
button { min-height: 2.5rem; min-width: 4.5rem; padding: 0 1rem; font: inherit; border-radius: .375rem; border: 1px solid var(--msn-border); cursor: pointer; }
button.primary { background: var(--msn-accent); color: #fff; border-color: var(--msn-accent); }
button:disabled { opacity: .5; cursor: not-allowed; }
button:focus-visible, textarea:focus-visible { outline: 3px solid var(--msn-accent); outline-offset: 2px; }
.output { white-space: pre-wrap; overflow-wrap: anywhere; font: .95em ui-monospace, monospace; min-height: 3rem; max-height: 24rem; overflow: auto; border: 1px solid var(--msn-border); border-radius: .375rem; padding: .5rem; }
.status { margin: 0; font-size: .9em; }
.error { border-left: 4px solid #b91c1c; padding: .25rem .5rem; background: #b91c1c14; }
.error[hidden] { display: none; }
.error strong { display: block; }
.error p { margin: .25rem 0; }
`;
