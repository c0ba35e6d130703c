"""Tools the model may call: MCP servers' and what the tool loop needs of any tool.

- :mod:`~seedchat.tools.protocol`: what the tool loop needs of tools and of the user
  (`ToolRunner`, `Approver`);
- :mod:`~seedchat.tools.approvals`: the one rule for the tools the user always allows;
- :mod:`~seedchat.tools.config`: the configured MCP servers (`mcp.json`);
- :mod:`~seedchat.tools.servers`: their lifecycle and calls (`ToolHost`);
- :mod:`~seedchat.tools.mcp_tools`: their tools as the tool loop's runner;
- :mod:`~seedchat.tools.results`: what a call returns;
- :mod:`~seedchat.tools.cost`: what the tools cost in a prompt.

Only :mod:`seedchat.tools.mcp_client` imports the MCP SDK (importing this package does not).
"""
