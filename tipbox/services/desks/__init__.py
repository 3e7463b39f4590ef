"""Desks (issue 15): one instance, several teams, each with its own key, members and questions.

- :mod:`.desks`: the desks, their names per language, their members and
  their keys (a desk is created with its own post-quantum key, granted to
  its members and the recovery recipient only);
- :mod:`.questions`: the optional questions of a desk's submit form and the
  validated answers a source gives;
- :mod:`.moves`: moving a source to another desk (its headers re-wrapped to
  the new desk's key only).
"""
