import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

import type { RowRecord } from '../engine/store';
import { text } from './hooks';

/** A side panel on wide screens, a bottom sheet on phones. */
export function Sheet(props: { title: string; onClose: () => void; children: ReactNode; testId?: string }): ReactNode {
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props]);
  return (
    <div className="sheet-backdrop" onClick={props.onClose}>
      <aside
        className="sheet"
        role="dialog"
        aria-label={props.title}
        data-testid={props.testId}
        onClick={(e) => e.stopPropagation()}
      >
        <div className="sheet-head">
          <h2>{props.title}</h2>
          <button type="button" className="btn ghost" data-testid="sheet-close" onClick={props.onClose}>
            Close
          </button>
        </div>
        <div className="sheet-body">{props.children}</div>
      </aside>
    </div>
  );
}

export function Confirm(props: {
  message: string;
  confirm: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}): ReactNode {
  return (
    <div className="modal-backdrop" onClick={props.onCancel}>
      <div className="modal" role="alertdialog" aria-label={props.message} onClick={(e) => e.stopPropagation()}>
        <p>{props.message}</p>
        <div className="row-actions">
          <button type="button" className="btn ghost" data-testid="confirm-cancel" onClick={props.onCancel}>
            Cancel
          </button>
          <button
            type="button"
            className={props.danger ? 'btn danger' : 'btn primary'}
            data-testid="confirm-ok"
            onClick={props.onConfirm}
          >
            {props.confirm}
          </button>
        </div>
      </div>
    </div>
  );
}

const SHOW_MAX = 100;

/** A searchable list for picking a partner or a product (there can be hundreds). */
export function Picker(props: {
  title: string;
  rows: Map<string, RowRecord> | undefined;
  fields: string[];
  detail: (r: RowRecord) => string;
  onPick: (r: RowRecord) => void;
  onClose: () => void;
  current?: string | null;
}): ReactNode {
  const [query, setQuery] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const { fields, rows } = props;
  const matches = useMemo(() => {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    const all = [...(rows?.values() ?? [])].sort((a, b) => text(a, 'name').localeCompare(text(b, 'name')));
    return all.filter((r) => {
      const hay = fields.map((f) => text(r, f).toLowerCase()).join(' ');
      return words.every((w) => hay.includes(w));
    });
  }, [query, rows, fields]);
  return (
    <div className="modal-backdrop" onClick={props.onClose}>
      <div
        className="modal picker"
        role="dialog"
        aria-label={props.title}
        data-testid="picker"
        onClick={(e) => e.stopPropagation()}
      >
        <div className="sheet-head">
          <h2>{props.title}</h2>
          <button type="button" className="btn ghost" data-testid="picker-close" onClick={props.onClose}>
            Cancel
          </button>
        </div>
        <input
          ref={input}
          className="search"
          type="search"
          placeholder="Search by name or code"
          aria-label="Search"
          data-testid="picker-search"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        <ul className="picker-list">
          {matches.slice(0, SHOW_MAX).map((r) => (
            <li key={r.id}>
              <button
                type="button"
                className={r.id === props.current ? 'picker-option current' : 'picker-option'}
                data-testid="picker-option"
                onClick={() => props.onPick(r)}
              >
                <span className="name">{text(r, 'name') || '(no name)'}</span>
                <span className="detail">{props.detail(r)}</span>
              </button>
            </li>
          ))}
        </ul>
        <p className="hint">
          {matches.length > SHOW_MAX
            ? `Showing ${SHOW_MAX} of ${matches.length}: type to narrow down.`
            : `${matches.length} match${matches.length === 1 ? '' : 'es'}`}
        </p>
      </div>
    </div>
  );
}

export function numberError(draft: string): string | null {
  const t = draft.trim();
  if (t === '') return 'Enter a number.';
  const n = Number(t.replace(',', '.'));
  if (!Number.isFinite(n)) return 'Enter a number, like 12 or 2.5.';
  if (n < 0) return 'Must be 0 or more.';
  if (n > 1e12) return 'That is too large.';
  return null;
}

function fmt(v: number | null): string {
  return v === null ? '' : String(v);
}

/** A number input that commits on blur or Enter, only when valid (nothing invalid is stored). */
export function NumberField(props: {
  label: string;
  value: number | null;
  unit?: string;
  testId: string;
  /** Shown, not editable (a role that may not change it). */
  readOnly?: boolean;
  onCommit: (n: number) => void;
}): ReactNode {
  const [draft, setDraft] = useState(fmt(props.value));
  const [shown, setShown] = useState(props.value);
  const [editing, setEditing] = useState(false);
  if (!editing && props.value !== shown) {
    // Someone else (or another tab) changed it: show the new value.
    setShown(props.value);
    setDraft(fmt(props.value));
  }
  const error = numberError(draft);
  const commit = (): void => {
    setEditing(false);
    if (error !== null || props.readOnly === true) return;
    const n = Number(draft.trim().replace(',', '.'));
    if (n !== props.value) {
      setShown(n);
      props.onCommit(n);
    }
  };
  return (
    <label className="field">
      <span className="label">{props.label}</span>
      <span className="with-unit">
        <input
          inputMode="decimal"
          data-testid={props.testId}
          aria-invalid={error !== null}
          readOnly={props.readOnly === true}
          value={draft}
          onFocus={() => setEditing(true)}
          onChange={(e) => {
            setEditing(true);
            setDraft(e.target.value);
          }}
          onBlur={commit}
          onKeyDown={(e) => {
            if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
          }}
        />
        {props.unit ? <span className="unit">{props.unit}</span> : null}
      </span>
      {error !== null ? (
        <span className="error" role="alert" data-testid={`${props.testId}-error`}>
          {error}
        </span>
      ) : null}
    </label>
  );
}
