"""Seed's text format, pure: its tags, the thinking parser, the budget's policy, the chat template, prompts as tokens, tool calls both ways."""
