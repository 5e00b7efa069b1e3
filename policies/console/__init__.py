"""The Admin Console's policy pages: overview, image access, exceptions, usage and events,
My access and access requests, with their forms and the Usage page's charts.

Built on the tenancy mixins of ``orgs.tenancy`` (``ConsoleMixin``, ``OrgActionView``).
"""
