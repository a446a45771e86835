import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

import './editor.css';

/** A button on a toast (e.g. Undo): it runs once, then the toast goes. */
export interface ToastAction {
  label: string;
  run: () => void;
}

interface ToastItem {
  id: number;
  text: string;
  kind: 'info' | 'error';
  action?: ToastAction;
}

export interface ToastApi {
  info: (text: string, action?: ToastAction) => void;
  error: (e: unknown) => void;
}

const ToastContext = createContext<ToastApi>({ info: () => undefined, error: () => undefined });

/** At most this many at once: a new one pushes out the oldest. */
export const MAX_TOASTS = 3;
/** How long a toast shows (ms): one with an action (Undo) stays long enough to reach it. */
const SHOW_MS = { info: 5000, action: 8000, error: 8000 };

let nextId = 1;

/** Toasts stack at the bottom of the screen. Their height is published as the CSS variable
 * `--toast-room`, which the page and the edit panel add below their content (editor.css), so
 * a toast never covers the controls it refers to: they can always be scrolled above it. */
export function ToastProvider(props: { children: ReactNode }): ReactNode {
  const [items, setItems] = useState<ToastItem[]>([]);
  const stack = useRef<HTMLDivElement>(null);
  const remove = useCallback((id: number) => setItems((xs) => xs.filter((x) => x.id !== id)), []);
  const push = useCallback(
    (item: Omit<ToastItem, 'id'>) => {
      const id = nextId++;
      setItems((xs) => [...xs.slice(-(MAX_TOASTS - 1)), { ...item, id }]);
      const ms = item.kind === 'error' ? SHOW_MS.error : item.action ? SHOW_MS.action : SHOW_MS.info;
      setTimeout(() => remove(id), ms);
    },
    [remove],
  );
  const api = useMemo<ToastApi>(
    () => ({
      info: (text, action) => push(action ? { text, kind: 'info', action } : { text, kind: 'info' }),
      error: (e) => push({ text: e instanceof Error ? e.message : String(e), kind: 'error' }),
    }),
    [push],
  );
  useEffect(() => {
    const el = stack.current;
    const root = document.documentElement;
    if (!el) return;
    const publish = (): void => {
      const h = el.getBoundingClientRect().height;
      root.style.setProperty('--toast-room', h > 0 ? `${Math.ceil(h) + 24}px` : '0px');
    };
    publish();
    const observer = new ResizeObserver(publish);
    observer.observe(el);
    return () => {
      observer.disconnect();
      root.style.removeProperty('--toast-room');
    };
  }, []);
  return (
    <ToastContext.Provider value={api}>
      {props.children}
      <div className="toasts toast-stack" aria-live="polite" ref={stack} data-testid="toast-stack">
        {items.map((t) => (
          <div
            key={t.id}
            className={`toast ${t.kind}`}
            role={t.kind === 'error' ? 'alert' : 'status'}
            data-testid={t.kind === 'error' ? 'error-toast' : 'info-toast'}
          >
            <span className="toast-text">{t.text}</span>
            {t.action ? (
              <button
                type="button"
                className="btn ghost"
                data-testid="toast-action"
                onClick={() => {
                  t.action?.run();
                  remove(t.id);
                }}
              >
                {t.action.label}
              </button>
            ) : null}
            <button
              type="button"
              className="btn ghost toast-close"
              aria-label="Dismiss"
              data-testid="toast-dismiss"
              onClick={() => remove(t.id)}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast(): ToastApi {
  return useContext(ToastContext);
}
