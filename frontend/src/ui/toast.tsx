import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';

interface ToastAction {
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

let nextId = 1;

export function ToastProvider(props: { children: ReactNode }): ReactNode {
  const [items, setItems] = useState<ToastItem[]>([]);
  const remove = useCallback((id: number) => setItems((xs) => xs.filter((x) => x.id !== id)), []);
  const push = useCallback(
    (item: Omit<ToastItem, 'id'>) => {
      const id = nextId++;
      setItems((xs) => [...xs.slice(-3), { ...item, id }]);
      setTimeout(() => remove(id), item.kind === 'error' ? 8000 : 5000);
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
  return (
    <ToastContext.Provider value={api}>
      {props.children}
      <div className="toasts" aria-live="polite">
        {items.map((t) => (
          <div key={t.id} className={`toast ${t.kind}`} data-testid={t.kind === 'error' ? 'error-toast' : 'info-toast'}>
            <span>{t.text}</span>
            {t.action ? (
              <button
                type="button"
                className="btn ghost"
                onClick={() => {
                  t.action?.run();
                  remove(t.id);
                }}
              >
                {t.action.label}
              </button>
            ) : null}
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast(): ToastApi {
  return useContext(ToastContext);
}
