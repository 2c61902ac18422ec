"""The rooms behind the service facade (`avatar.service.Avatar`), each owning its own state and
lock: the render lane, answers that play while they render, and adapted presenters."""
