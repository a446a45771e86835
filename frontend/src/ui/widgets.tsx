import { useEffect, useId, useMemo, useRef, useState, type ReactNode, type RefObject } from 'react';

import { clampQuantity, QTY_MAX, QTY_MIN, quantityError } from '../app/actions';
import type { RowRecord } from '../engine/store';
import { text } from './hooks';
import './editor.css';

// -- dialogs: focus kept inside, returned on close, Escape closes the top one ---------------

interface Layer {
  el: () => HTMLElement | null;
  close: () => void;
}

/** Open dialogs, innermost last (a picker opened from the edit panel is above it). */
const layers: Layer[] = [];

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
    (el) => !el.closest('fieldset:disabled') && el.getClientRects().length > 0,
  );
}

function onKey(e: KeyboardEvent): void {
  const top = layers[layers.length - 1];
  const root = top?.el();
  if (!top || !root || e.defaultPrevented) return;
  if (e.key === 'Escape') {
    e.preventDefault();
    top.close();
    return;
  }
  if (e.key !== 'Tab') return;
  // The toasts' buttons (Undo) belong to the cycle too, after the dialog's own controls.
  const toasts = document.querySelector<HTMLElement>('.toast-stack');
  const els = [...focusables(root), ...(toasts ? focusables(toasts) : [])];
  const active = document.activeElement;
  const inside =
    active instanceof HTMLElement && active !== root && (root.contains(active) || (toasts?.contains(active) ?? false));
  const first = els[0];
  const last = els[els.length - 1];
  if (!first || !last) {
    e.preventDefault();
    root.focus();
  } else if (e.shiftKey && (!inside || active === first)) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (!inside || active === last)) {
    e.preventDefault();
    first.focus();
  }
}

/** Make `ref` a modal layer: Tab and Shift+Tab cycle inside it (and the toasts' buttons, so
 * an Undo stays reachable), Escape calls `onClose`, and focus goes back to the control that
 * was focused when it opened once it closes. */
export function useDialog(ref: RefObject<HTMLElement | null>, onClose: () => void): void {
  const close = useRef(onClose);
  useEffect(() => {
    close.current = onClose;
  }, [onClose]);
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const layer: Layer = { el: () => ref.current, close: () => close.current() };
    layers.push(layer);
    if (layers.length === 1) window.addEventListener('keydown', onKey);
    const el = ref.current;
    if (el && !el.contains(document.activeElement)) el.focus();
    return () => {
      layers.splice(layers.indexOf(layer), 1);
      if (!layers.length) window.removeEventListener('keydown', onKey);
      // Back to the opener, unless it is gone (e.g. the order moved to another day) or
      // focus already went somewhere on purpose.
      const now = document.activeElement;
      const lost = now === null || now === document.body || (el?.contains(now) ?? false);
      if (opener?.isConnected && lost) opener.focus();
    };
  }, [ref]);
}

/** A side panel on wide screens, a bottom sheet on phones. */
export function Sheet(props: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  testId?: string;
  /** Shown under the title, outside `children` (stays usable when they are disabled). */
  banner?: ReactNode;
}): ReactNode {
  const panel = useRef<HTMLElement>(null);
  useDialog(panel, props.onClose);
  return (
    <div className="sheet-backdrop" onClick={props.onClose}>
      <aside
        ref={panel}
        className="sheet"
        role="dialog"
        aria-modal="true"
        aria-label={props.title}
        data-testid={props.testId}
        tabIndex={-1}
        onClick={(e) => e.stopPropagation()}
      >
        <div className="sheet-head">
          <h2>{props.title}</h2>
          <button type="button" className="btn ghost" data-testid="sheet-close" onClick={props.onClose}>
            Close
          </button>
        </div>
        {props.banner}
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
  /** More choices, shown before Cancel. */
  extra?: ReactNode;
  testId?: string;
}): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  useDialog(box, props.onCancel);
  return (
    <div className="modal-backdrop" onClick={props.onCancel}>
      <div
        ref={box}
        className="modal"
        role="alertdialog"
        aria-modal="true"
        aria-label={props.message}
        data-testid={props.testId}
        tabIndex={-1}
        onClick={(e) => e.stopPropagation()}
      >
        <p>{props.message}</p>
        <div className="row-actions">
          {props.extra}
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
  /** Ids listed first, in this order, marked "recent" (e.g. the partner's recent products). */
  first?: readonly string[];
  /** Shown between the search and the list (e.g. a quantity stepper). */
  header?: ReactNode;
}): ReactNode {
  const [query, setQuery] = useState('');
  const box = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLInputElement>(null);
  useDialog(box, props.onClose);
  useEffect(() => input.current?.focus(), []);
  const { fields, rows, first } = props;
  const matches = useMemo(() => {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    const rank = new Map((first ?? []).map((id, i) => [id, i]));
    const all = [...(rows?.values() ?? [])].sort(
      (a, b) =>
        (rank.get(a.id) ?? Infinity) - (rank.get(b.id) ?? Infinity) || text(a, 'name').localeCompare(text(b, 'name')),
    );
    return all
      .filter((r) => {
        const hay = fields.map((f) => text(r, f).toLowerCase()).join(' ');
        return words.every((w) => hay.includes(w));
      })
      .map((r) => ({ r, recent: rank.has(r.id) }));
  }, [query, rows, fields, first]);
  return (
    <div className="modal-backdrop" onClick={props.onClose}>
      <div
        ref={box}
        className="modal picker"
        role="dialog"
        aria-modal="true"
        aria-label={props.title}
        data-testid="picker"
        tabIndex={-1}
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
        {props.header}
        <ul className="picker-list">
          {matches.slice(0, SHOW_MAX).map(({ r, recent }) => (
            <li key={r.id}>
              <button
                type="button"
                className={r.id === props.current ? 'picker-option current' : 'picker-option'}
                data-testid="picker-option"
                data-recent={recent ? '1' : undefined}
                onClick={() => props.onPick(r)}
              >
                <span className="name">{text(r, 'name') || '(no name)'}</span>
                <span className="detail">
                  {recent ? (
                    <span className="tag recent-tag" data-testid="picker-recent">
                      recent
                    </span>
                  ) : null}
                  {props.detail(r)}
                </span>
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

// -- numbers --------------------------------------------------------------------------------

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

/** A number input that commits on blur or Enter, only when valid (nothing invalid is stored).
 * An invalid entry is never dropped silently: Enter keeps it in the field with the error;
 * leaving the field or Escape puts the stored value back and says the entry was not saved. */
export function NumberField(props: {
  label: string;
  value: number | null;
  unit?: string;
  testId: string;
  /** Shown, not editable (a role that may not change it). */
  readOnly?: boolean;
  onCommit: (n: number) => void;
  /** The entry's error, or null when it is valid (default: any number 0 or more). */
  validate?: (draft: string) => string | null;
  /** Emptying the field means this (e.g. a weight back to automatic) instead of an error. */
  onClear?: () => void;
  /** Every valid draft as it is typed. */
  onDraft?: (n: number) => void;
  /** An invalid entry was discarded on leaving the field (the field says so). */
  onDiscard?: () => void;
  inputMode?: 'decimal' | 'numeric';
  /** Next to the label, outside it (e.g. "typed" and a button). */
  note?: ReactNode;
  before?: ReactNode;
  after?: ReactNode;
}): ReactNode {
  const [draft, setDraft] = useState(fmt(props.value));
  const [shown, setShown] = useState(props.value);
  const [editing, setEditing] = useState(false);
  const [discarded, setDiscarded] = useState<string | null>(null);
  const id = useId();
  if (!editing && props.value !== shown) {
    // Someone else (or another tab) changed it: show the new value.
    setShown(props.value);
    setDraft(fmt(props.value));
  }
  const validate = props.validate ?? numberError;
  const clearing = props.onClear !== undefined && draft.trim() === '';
  const error = clearing ? null : validate(draft);
  const discard = (why: string): void => {
    setDraft(fmt(props.value));
    setDiscarded(why);
    if (props.value !== null) props.onDraft?.(props.value);
  };
  const commit = (): void => {
    setEditing(false);
    if (props.readOnly === true) return;
    if (error !== null) {
      discard(`"${draft.trim()}" was not saved: ${error}`);
      props.onDiscard?.();
      return;
    }
    if (clearing) {
      props.onClear?.();
      return;
    }
    const n = Number(draft.trim().replace(',', '.'));
    if (n !== props.value) {
      setShown(n);
      props.onCommit(n);
    }
  };
  return (
    <div className="field number-field">
      <span className="field-head">
        <label className="label" htmlFor={id}>
          {props.label}
        </label>
        {props.note}
      </span>
      <span className="with-unit">
        {props.before}
        <input
          id={id}
          inputMode={props.inputMode ?? 'decimal'}
          data-testid={props.testId}
          aria-invalid={error !== null}
          readOnly={props.readOnly === true}
          value={draft}
          onFocus={() => setEditing(true)}
          onChange={(e) => {
            setEditing(true);
            setDiscarded(null);
            setDraft(e.target.value);
            const v = e.target.value.trim();
            if (props.onDraft && v !== '' && validate(v) === null) props.onDraft(Number(v.replace(',', '.')));
          }}
          onBlur={commit}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              if (error === null) (e.target as HTMLInputElement).blur();
            } else if (e.key === 'Escape' && draft !== fmt(props.value)) {
              e.preventDefault(); // this Escape is the field's, not the panel's
              discard(error !== null ? `"${draft.trim()}" was not saved: ${error}` : 'Change discarded.');
            }
          }}
        />
        {props.unit ? <span className="unit">{props.unit}</span> : null}
        {props.after}
      </span>
      {error !== null ? (
        <span className="error" role="alert" data-testid={`${props.testId}-error`}>
          {error}
        </span>
      ) : null}
      {discarded !== null && error === null ? (
        <span className="discarded" role="status" data-testid={`${props.testId}-discarded`}>
          {discarded}
        </span>
      ) : null}
    </div>
  );
}

/** A quantity: a whole number from QTY_MIN to QTY_MAX, typed or stepped with − / +. */
export function QuantityStepper(props: {
  value: number | null;
  testId: string;
  label?: string;
  readOnly?: boolean;
  onCommit: (n: number) => void;
  onDraft?: (n: number) => void;
  onDiscard?: () => void;
}): ReactNode {
  const { value, readOnly } = props;
  const step = (d: number): void => props.onCommit(clampQuantity((value ?? QTY_MIN) + d));
  return (
    <NumberField
      label={props.label ?? 'Quantity'}
      testId={props.testId}
      value={value}
      readOnly={readOnly === true}
      inputMode="numeric"
      validate={quantityError}
      onCommit={props.onCommit}
      {...(props.onDraft ? { onDraft: props.onDraft } : {})}
      {...(props.onDiscard ? { onDiscard: props.onDiscard } : {})}
      before={
        readOnly === true ? null : (
          <button
            type="button"
            className="btn step"
            aria-label="One less"
            data-testid={`${props.testId}-dec`}
            disabled={value !== null && value <= QTY_MIN}
            onClick={() => step(-1)}
          >
            −
          </button>
        )
      }
      after={
        readOnly === true ? null : (
          <button
            type="button"
            className="btn step"
            aria-label="One more"
            data-testid={`${props.testId}-inc`}
            disabled={value !== null && value >= QTY_MAX}
            onClick={() => step(1)}
          >
            +
          </button>
        )
      }
    />
  );
}

/** A line icon drawn from one SVG path, decorative: the control it sits in has its words. */
export function Icon(props: { path: string; className: string; size?: number }): ReactNode {
  const size = props.size ?? 20;
  return (
    <svg
      className={props.className}
      viewBox="0 0 24 24"
      width={size}
      height={size}
      aria-hidden="true"
      focusable="false"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
    >
      <path d={props.path} />
    </svg>
  );
}
