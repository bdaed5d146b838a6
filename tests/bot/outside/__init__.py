"""Tests of reaching people outside chat: e-mail, texts, links and pages."""
