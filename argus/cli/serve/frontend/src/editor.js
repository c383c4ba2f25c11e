// The config editor of `run.py serve`: CodeMirror 6 + YAML + JSON Schema completion and hover.
// Errors come from the server (the same validation as `run.py check`), shown with setErrors().
// Built by `make web-bundle` into ../static/editor.bundle.js (global `ArgusEditor`).
import { basicSetup, EditorView } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, setDiagnostics } from "@codemirror/lint";
import { autocompletion } from "@codemirror/autocomplete";
import { hoverTooltip } from "@codemirror/view";
import { yamlCompletion, yamlSchemaHover } from "codemirror-json-schema/yaml";
import { stateExtensions } from "codemirror-json-schema";

// Create the editor in `parent` with `text`; `onChange(text)` is called after each edit.
export function createEditor(parent, text, schema, onChange) {
  const view = new EditorView({
    parent,
    doc: text,
    extensions: [
      basicSetup,
      EditorView.lineWrapping,
      yaml(),
      lintGutter(),
      linter(null),
      autocompletion({ override: [yamlCompletion()] }),
      hoverTooltip(yamlSchemaHover()),
      stateExtensions(schema),
      EditorView.updateListener.of((update) => {
        if (update.docChanged && onChange) onChange(update.state.doc.toString());
      }),
    ],
  });
  return view;
}

export function getText(view) {
  return view.state.doc.toString();
}

export function setText(view, text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

// errors: [{line, key, message}] from the server; a missing line marks line 1.
export function setErrors(view, errors) {
  const doc = view.state.doc;
  const diagnostics = errors.map((e) => {
    const number = Math.min(Math.max(e.line || 1, 1), doc.lines);
    const line = doc.line(number);
    return {
      from: line.from,
      to: Math.max(line.to, line.from),
      severity: "error",
      message: (e.key ? e.key + ": " : "") + e.message,
    };
  });
  view.dispatch(setDiagnostics(view.state, diagnostics));
}
