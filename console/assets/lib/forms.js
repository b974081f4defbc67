// Pieces the admin pages' forms share: a dialog that asks before an
// action, and the errors of a form shown beside the fields they name.

// confirmDialog is a modal dialog that asks before onConfirm(item) runs,
// with the elements #PREFIX-dialog, -title, -text, -cancel and -confirm.
// ask(item, title, text) opens it for item. It acts on the submit of its
// button, which is synchronous: the close event comes later, maybe after
// the dialog opened again for another item, and would then act on that
// one.
export function confirmDialog(ctx, prefix, confirmLabel, onConfirm) {
  const {h} = ctx;
  const title = h('h2', {id: prefix + '-title'});
  const text = h('p', {id: prefix + '-text'});
  let pending = null; // set when the dialog opens; taken by its submit
  const el = h('dialog', {id: prefix + '-dialog', class: 'card', 'aria-labelledby': prefix + '-title',
    'aria-describedby': prefix + '-text'},
  h('form', {method: 'dialog', onsubmit: (ev) => {
    const item = pending;
    pending = null;
    if (item && ev.submitter && ev.submitter.value === 'confirm') onConfirm(item);
  }}, title, text,
  h('div', {class: 'form-actions'},
    h('button', {type: 'submit', class: 'btn', id: prefix + '-cancel', value: 'cancel', autofocus: true}, 'Cancel'),
    h('button', {type: 'submit', class: 'btn btn-danger', id: prefix + '-confirm', value: 'confirm'}, confirmLabel))));
  const ask = (item, titleText, bodyText) => {
    pending = item;
    title.textContent = titleText;
    text.textContent = bodyText;
    el.returnValue = '';
    el.showModal();
  };
  return {el, ask};
}

// fieldErrors shows a form's errors: an error naming a field (after
// fieldOf, which maps the API's field names to the form's) in
// #PREFIX-FIELD-error, made by errFor(field), with aria-invalid on the
// field's input (given to setInputs) and the focus there; any other in
// general (#PREFIX-form-error). show('') clears them all.
export function fieldErrors(ctx, prefix, fieldOf = (f) => f) {
  const {h} = ctx;
  const errs = Object.create(null); // field names come from the API
  let inputs = Object.create(null);
  const general = h('p', {class: 'form-error', id: prefix + '-form-error', role: 'alert', hidden: true});
  const errFor = (f) => (errs[f] = h('p', {class: 'field-error', id: prefix + '-' + f + '-error', hidden: true}));
  const show = (text, field) => {
    general.textContent = '';
    general.hidden = true;
    for (const [f, el] of Object.entries(errs)) {
      el.textContent = '';
      el.hidden = true;
      if (inputs[f]) inputs[f].removeAttribute('aria-invalid');
    }
    if (!text) return;
    const f = field ? fieldOf(field) : '';
    if (f && errs[f]) {
      errs[f].textContent = text;
      errs[f].hidden = false;
      if (inputs[f]) {
        inputs[f].setAttribute('aria-invalid', 'true');
        if (!inputs[f].disabled) inputs[f].focus();
      }
    } else {
      general.textContent = text;
      general.hidden = false;
    }
  };
  return {general, errFor, show, setInputs: (m) => (inputs = Object.assign(Object.create(null), m))};
}
