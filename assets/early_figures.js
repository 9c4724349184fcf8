// The overview's early KPI cards (app/components/early_figures.py). The page's first script (an inline script in
// the document's head) asked GET /api/internal/overview-kpis with the session token at navigation; this module hands
// its answer to React as soon as the page mounts, before Reflex's websocket, hydration and on_load have run. The
// state's own figures replace them when they arrive (the same cards, from the same service and presenter).
import { useLayoutEffect, useState } from "react";

const NONE = { account: "", kpis: [] };
const early = typeof window !== "undefined" ? window.__paidsignalEarly : undefined;
const listeners = new Set();
let answer = NONE;

if (early) {
  early.answer.then((body) => {
    if (body && typeof body.account === "string" && Array.isArray(body.kpis)) {
      answer = body;
      listeners.forEach((listener) => listener());
    }
  });
}

// Only for the document, session and range it was asked for: after a logout, another login or a new range in this
// tab, the state's figures are the only ones shown.
function current() {
  if (answer === NONE) return NONE;
  let token = null;
  try {
    token = window.localStorage.getItem(early.key);
  } catch (error) {
    return NONE;
  }
  const same = token === early.token && window.location.pathname === early.path && window.location.search === early.search;
  return same ? answer : NONE;
}

// NONE while React hydrates the prerendered page (which has no cards), then the answer from the hydration's commit
// on: a layout effect's update renders before the browser paints, where useSyncExternalStore's would wait for the
// passive effects, a task later.
export function useEarlyFigures() {
  const [mounted, setMounted] = useState(false);
  const [, setAnswers] = useState(0);
  useLayoutEffect(() => {
    setMounted(true);
    const listener = () => setAnswers((n) => n + 1);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return mounted ? current() : NONE;
}
