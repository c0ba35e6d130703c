"""The browser keeps no copy of the conversations.

Gradio 6 records every event's inputs and outputs (a question, a reply, a document's text)
in the browser's storage, its "run history", and rewrites that record on every streamed
update of a reply. Deleting a conversation in seedchat left those copies, under a new key
each time the app started (gradio names it by an id drawn at every start). seedchat starts
gradio with the history off (:data:`KEEP`, ``seedchat.ui.launch``), and the page's script
:data:`FORGET_JS` deletes what earlier versions left: every key of gradio's run history at
the page's own address (gradio's own clean-up, for the current id only, did not remove it).
"""

from __future__ import annotations

#: gradio's ``run_history`` launch setting
KEEP = False
#: the start of the names gradio gives its run history's entries in ``localStorage``
PREFIX = "gradio:run-history:"

FORGET_JS = f"""() => {{
  try {{
    for (const key of Object.keys(window.localStorage))
      if (key.startsWith({PREFIX!r})) window.localStorage.removeItem(key);
  }} catch (error) {{ console.warn('seedchat: the browser storage was not cleared', error); }}
  return [];
}}"""
